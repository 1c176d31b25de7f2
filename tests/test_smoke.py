def test_owner_sees_home(as_user):
    response = as_user("a", "owner").get("/")
    assert response.status_code == 200
    assert "A整骨院" in response.get_data(as_text=True)
