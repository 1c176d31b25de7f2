"""The demo clinic that `make run` adds to an empty database: さくら整体院 and a day of work."""
from datetime import date, datetime, time, timedelta

from .. import body_chart
from ..accounts import create_clinic, create_user
from ..clock import today
from ..db.connection import database
from ..db.tenancy import clinic_context
from ..models import Appointment, Clinic, MedicalRecord, Patient, RecordTemplate, Therapist, User

CLINIC_CODE = "sakura"
CLINIC_NAME = "さくら整体院"
PASSWORD = "sakura-demo-2026"
STAFF = [  # username, role, display name
    ("incho", "owner", "桜井 院長"),
    ("uketsuke", "receptionist", "受付 山本"),
    ("sato", "therapist", "佐藤 健太"),
    ("suzuki", "therapist", "鈴木 美咲"),
]
THERAPISTS = [  # name, license, specialty, username
    ("佐藤 健太", "柔整 第123456号", "柔道整復・骨盤矯正", "sato"),
    ("鈴木 美咲", "鍼灸 第654321号", "鍼灸・肩こり", "suzuki"),
]
PATIENTS = [  # name, kana, birth, gender, phone
    ("山田 太郎", "ヤマダ タロウ", date(1980, 4, 1), "男性", "090-1234-5678"),
    ("田中 花子", "タナカ ハナコ", date(1975, 8, 15), "女性", "080-2345-6789"),
    ("高橋 一郎", "タカハシ イチロウ", date(1962, 1, 30), "男性", "03-3456-7890"),
    ("伊藤 さくら", "イトウ サクラ", date(1992, 3, 3), "女性", "070-4567-8901"),
    ("渡辺 誠", "ワタナベ マコト", date(1988, 11, 11), "男性", "090-5678-9012"),
    ("小林 由美", "コバヤシ ユミ", date(1955, 6, 20), "女性", "080-6789-0123"),
]
TODAY_SLOTS = [  # patient index, therapist index, hour, minute, minutes, status
    (0, 0, 9, 30, 30, "completed"),
    (1, 1, 10, 0, 60, "arrived"),
    (2, 0, 11, 0, 30, "booked"),
    (3, 1, 14, 0, 45, "booked"),
    (4, 0, 15, 30, 30, "booked"),
    (5, 1, 17, 0, 60, "booked"),
]


RECORDS = [  # weeks ago, patient index, body chart marks
    (3, 0, [("back-shoulder-right", "pain"), ("back-neck", "stiffness")]),
    (2, 0, [("back-shoulder-right", "pain"), ("back-neck", "stiffness")]),
    (1, 0, [("back-neck", "stiffness")]),
    (1, 1, [("back-lower-back", "pain"), ("back-thigh-left", "numbness")]),
    (3, 2, [("front-knee-right", "pain")]),
]
TEMPLATES = [  # field, title, body
    ("symptoms", "肩こり", "肩から首にかけてのこり。"),
    ("symptoms", "腰痛", "腰部の痛み。前屈で増悪。"),
    ("treatment", "手技20分", "手技療法 20分"),
    ("treatment", "温罨法", "温罨法 10分"),
    ("treatment", "鍼", "鍼治療（置鍼 15分）"),
    ("prescription", "ストレッチ", "肩回しのストレッチを1日3回"),
    ("notes", "次回2週間後", "次回は2週間後"),
]


def seed_if_empty():
    """Create the demo clinic when there is no clinic at all; True when it did."""
    if Clinic.select().exists():
        return False
    with database.atomic():
        clinic = create_clinic(CLINIC_CODE, CLINIC_NAME, "pro", STAFF[0][0], PASSWORD,
                               address="東京都世田谷区桜新町1-2-3", phone="03-1234-5678")
        with clinic_context(clinic.id):
            _fill()
    return True


def _fill():
    User.update(display_name=STAFF[0][2]).where(User.username == STAFF[0][0]).execute()
    users = {name: create_user(name, PASSWORD, role, label) for name, role, label in STAFF[1:]}
    therapists = [
        Therapist.create(name=name, license_number=license, specialty=specialty,
                         user=users[username])
        for name, license, specialty, username in THERAPISTS
    ]
    patients = [
        Patient.create(chart_number=number, name=name, name_kana=kana, date_of_birth=birth,
                       gender=gender, phone=phone, is_new_patient=False)
        for number, (name, kana, birth, gender, phone) in enumerate(PATIENTS, start=1)
    ]
    day = today()
    for patient, therapist, hour, minute, minutes, status in TODAY_SLOTS:
        Appointment.create(patient=patients[patient], therapist=therapists[therapist],
                           appointment_date=datetime.combine(day, time(hour, minute)),
                           duration_minutes=minutes, status=status)
    for weeks_ago, patient, marks in RECORDS:
        author = therapists[weeks_ago % 2]
        MedicalRecord.write(
            patients[patient], author.user, therapist=author,
            visit_date=day - timedelta(weeks=weeks_ago),
            symptoms="右肩の痛み、首のこり。デスクワークで悪化。",
            diagnosis="右僧帽筋の過緊張", treatment="肩甲帯の手技療法 20分、温罨法",
            prescription="肩回しのストレッチを1日3回", notes="次回は2週間後",
            body_chart=body_chart.dumps([{"region": r, "kind": k} for r, k in marks]),
        )
    for order, (field, title, body) in enumerate(TEMPLATES):
        RecordTemplate.create(field=field, title=title, body=body, sort_order=order)


def logins_text():
    lines = [f"デモ医院 {CLINIC_NAME}  医院コード: {CLINIC_CODE}  パスワード(全員): {PASSWORD}"]
    lines += [f"  {role:13} {username}" for username, role, _ in STAFF]
    return "\n".join(lines)
