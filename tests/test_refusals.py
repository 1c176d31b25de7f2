"""One answer to a refused request (web/refusals.py): the status of each refusal, the messages
per field, and the route's page given both with the route's arguments."""
import pytest
from flask import Flask

from karusaku.accounts import AccountError
from karusaku.forms import Invalid
from karusaku.models.appointments import BookingConflict, StatusNotAllowed
from karusaku.models.plan_limits import PlanLimitReached
from karusaku.models.records import EditConflict, NotAllowed
from karusaku.web.refusals import answers_refusals, errors_of, status_of


@pytest.mark.parametrize("refusal,status", [
    (Invalid({"name": "氏名を入力してください"}), 422), (StatusNotAllowed("x"), 422),
    (AccountError("x", "username"), 422), (BookingConflict("x"), 409), (EditConflict("x"), 409),
    (PlanLimitReached("x"), 403), (NotAllowed("x"), 403),
])
def test_each_refusal_has_its_status(refusal, status):
    assert status_of(refusal) == status


def test_the_messages_go_on_their_fields():
    assert errors_of(Invalid({"name": "氏名", "phone": "電話"})) == {"name": "氏名", "phone": "電話"}
    assert errors_of(PlanLimitReached("上限です")) == {"form": "上限です"}
    assert errors_of(PlanLimitReached("上限です"), on={PlanLimitReached: "patient_id"}) == {
        "patient_id": "上限です"}
    assert errors_of(BookingConflict("重なり"), on={PlanLimitReached: "patient_id"}) == {
        "form": "重なり"}
    assert errors_of(AccountError("使われています", "username")) == {"username": "使われています"}


def test_a_refused_route_answers_with_its_page_and_arguments():
    app = Flask(__name__)

    def page(status, errors, item_id):
        return f"{item_id}: {errors}", status

    @app.post("/items/<int:item_id>")
    @answers_refusals(page, on={BookingConflict: "when"})
    def update(item_id):
        if item_id == 1:
            raise Invalid({"name": "氏名を入力してください"})
        if item_id == 2:
            raise BookingConflict("別の予約があります")
        if item_id == 3:
            raise ValueError("not a refusal")
        return "saved"

    client = app.test_client()
    assert (client.post("/items/1").status_code, client.post("/items/1").text) == (
        422, "1: {'name': '氏名を入力してください'}")
    assert (client.post("/items/2").status_code, client.post("/items/2").text) == (
        409, "2: {'when': '別の予約があります'}")
    assert client.post("/items/4").text == "saved"
    app.testing = True
    with pytest.raises(ValueError):
        client.post("/items/3")
