"""The data generator, a benchmark tool (its command line: bench/generate.py). It uses the app's
package; the app never imports it.

It fills an empty (freshly `init-db`'d) SQLite database with N realistic Japanese clinics:
staff accounts (one known password), therapists, P patients each with a kana reading, M months
of appointments ending today (plus a few weeks of bookings ahead), one visit record (and its
revision 1) per completed appointment, and a few 定型文 per clinic; each clinic's audit chain
gets its staff accounts' creation rows, the platform chain the clinics' creation.

Speed is the point (phase 3: 100 clinics × 60 months = 3.6 M records in minutes), so this is
platform code on purpose: one plain sqlite3 connection of its own (synchronous=OFF and a large
cache while it runs, restored after; WAL stays on), explicit ids in id order, rows built from
pre-built pools of text and date strings, inserted with executemany in one transaction per
clinic, revisions copied from the records in SQL, ANALYZE at the end.

Data shape, per clinic:
- plan: the smallest plan whose limits hold the clinic (starter only for 3 therapists and a
  record rate well below 500 a month, some large clinics on enterprise), `max_patients` raised
  above P when the plan's patient limit is lower;
- staff: owner `incho`, receptionists `uketsuke1`(, `uketsuke2`), therapists `sejutsu1`…
  (each linked to a therapist), all with the same password;
- appointments: laid out per therapist and day on the clinic's slot grid (they never overlap),
  durations 30–90 min; before today completed ~92 %, cancelled ~5 %, no_show ~3 %; today and
  later booked. Clinics are sized by their therapists (3–8): the average clinic writes
  `records_per_month` records a month, a 3-therapist one about half of that;
- records: one per completed appointment, same patient, therapist (author = the therapist's
  account), day; SOAP text from phrase pools per complaint, 0–3 body-chart marks.
"""
import calendar
import json
import math
import random
import sqlite3
import sys
import time as _time
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace

import jpholiday
from peewee import SqliteDatabase

from karusaku import body_chart
from karusaku.clock import today as clinic_today
from karusaku.db.connection import database
from karusaku.db.migrations import available
from karusaku.japanese import normalize_kana, normalize_phone
from karusaku.models.audit import GENESIS_HASH, AuditLog, PlatformAuditLog
from karusaku.models.clinic import PLANS

PASSWORD = "karusaku-bench-2026"
OWNER = "incho"
RECEPTIONIST = "uketsuke{}"
THERAPIST = "sejutsu{}"

DEFAULT_PATIENTS = 150
DEFAULT_MONTHS = 12
DEFAULT_RECORDS_PER_MONTH = 600

SLOT_MINUTES = 15
FUTURE_DAYS = 28  # bookings ahead of today
BUSY_SHARE = 0.85  # of a therapist's day that appointments fill before colleagues take more
INITIAL_PATIENTS = 0.6  # share of patients registered before the history starts
# Past appointments' outcome.
COMPLETED, CANCELLED = 0.92, 0.05  # the rest is no_show
# Appointment length in slots of 15 minutes, and how often.
DURATIONS = (2, 3, 4, 6)
DURATION_WEIGHTS = (45, 22, 28, 5)
# Busyness by weekday (Monday = 0) and on public holidays.
WEEKDAY_LOAD = (1.0, 1.0, 0.95, 1.0, 1.05, 1.3, 0.9)
HOLIDAY_LOAD = 0.7
THERAPIST_COUNTS = {3: 35, 4: 20, 5: 15, 6: 12, 7: 9, 8: 9}
# A clinic's share of the records grows a little faster than its therapists: the average clinic
# writes `records_per_month`, a 3-therapist one about half of that (a starter plan holds it).
SIZE_EXPONENT = 1.3
# A clinic on a limited plan writes at most this share of its records a month (room for more).
PLAN_HEADROOM = 0.8
POOL_BITS = 9  # 512 pre-built record contents per clinic type and complaint

INSERT_BATCH = 20000


class GeneratorError(ValueError):
    """The generator cannot run on this database; the message is one line."""


# --- name, place and text pools ---------------------------------------------------------------

def _triples(text):
    return [tuple(item.split(":")) for item in text.split()]


FAMILY_NAMES = _triples("""
佐藤:サトウ:sato 鈴木:スズキ:suzuki 高橋:タカハシ:takahashi 田中:タナカ:tanaka 伊藤:イトウ:ito
渡辺:ワタナベ:watanabe 山本:ヤマモト:yamamoto 中村:ナカムラ:nakamura 小林:コバヤシ:kobayashi
加藤:カトウ:kato 吉田:ヨシダ:yoshida 山田:ヤマダ:yamada 佐々木:ササキ:sasaki 山口:ヤマグチ:yamaguchi
松本:マツモト:matsumoto 井上:イノウエ:inoue 木村:キムラ:kimura 林:ハヤシ:hayashi 斎藤:サイトウ:saito
清水:シミズ:shimizu 山崎:ヤマザキ:yamazaki 森:モリ:mori 池田:イケダ:ikeda 橋本:ハシモト:hashimoto
阿部:アベ:abe 石川:イシカワ:ishikawa 山下:ヤマシタ:yamashita 中島:ナカジマ:nakajima 石井:イシイ:ishii
小川:オガワ:ogawa 前田:マエダ:maeda 岡田:オカダ:okada 長谷川:ハセガワ:hasegawa 藤田:フジタ:fujita
後藤:ゴトウ:goto 近藤:コンドウ:kondo 村上:ムラカミ:murakami 遠藤:エンドウ:endo 青木:アオキ:aoki
坂本:サカモト:sakamoto 斉藤:サイトウ:saito 福田:フクダ:fukuda 太田:オオタ:ota 西村:ニシムラ:nishimura
藤井:フジイ:fujii 金子:カネコ:kaneko 岡本:オカモト:okamoto 藤原:フジワラ:fujiwara 中野:ナカノ:nakano
三浦:ミウラ:miura 原田:ハラダ:harada 中川:ナカガワ:nakagawa 松田:マツダ:matsuda 竹内:タケウチ:takeuchi
小野:オノ:ono 田村:タムラ:tamura 中山:ナカヤマ:nakayama 和田:ワダ:wada 石田:イシダ:ishida
森田:モリタ:morita 上田:ウエダ:ueda 原:ハラ:hara 内田:ウチダ:uchida 柴田:シバタ:shibata
酒井:サカイ:sakai 宮崎:ミヤザキ:miyazaki 横山:ヨコヤマ:yokoyama 高木:タカギ:takagi 安藤:アンドウ:ando
宮本:ミヤモト:miyamoto 大野:オオノ:ono 小島:コジマ:kojima 谷口:タニグチ:taniguchi 今井:イマイ:imai
工藤:クドウ:kudo 高田:タカダ:takada 増田:マスダ:masuda 丸山:マルヤマ:maruyama 杉山:スギヤマ:sugiyama
村田:ムラタ:murata 大塚:オオツカ:otsuka 新井:アライ:arai 小山:コヤマ:koyama 平野:ヒラノ:hirano
藤本:フジモト:fujimoto 河野:コウノ:kono 上野:ウエノ:ueno 野口:ノグチ:noguchi 武田:タケダ:takeda
松井:マツイ:matsui 千葉:チバ:chiba 岩崎:イワサキ:iwasaki 菅原:スガワラ:sugawara 木下:キノシタ:kinoshita
久保:クボ:kubo 佐野:サノ:sano 野村:ノムラ:nomura 松尾:マツオ:matsuo 市川:イチカワ:ichikawa
菊地:キクチ:kikuchi 杉本:スギモト:sugimoto 古川:フルカワ:furukawa 大西:オオニシ:onishi 島田:シマダ:shimada
水野:ミズノ:mizuno 桜井:サクライ:sakurai 高野:タカノ:takano 吉川:ヨシカワ:yoshikawa 山内:ヤマウチ:yamauchi
西田:ニシダ:nishida 飯田:イイダ:iida 菅野:カンノ:kanno 中西:ナカニシ:nakanishi 服部:ハットリ:hattori
樋口:ヒグチ:higuchi 福島:フクシマ:fukushima 川口:カワグチ:kawaguchi 永井:ナガイ:nagai 松下:マツシタ:matsushita
北村:キタムラ:kitamura 片山:カタヤマ:katayama 岡崎:オカザキ:okazaki 荒木:アラキ:araki 大久保:オオクボ:okubo
""")

# Given names by generation: o (born before about 1965), m (1960–1995), y (after about 1985).
MALE_NAMES = {
    "o": _triples("""
        茂:シゲル:shigeru 清:キヨシ:kiyoshi 勝:マサル:masaru 実:ミノル:minoru 博:ヒロシ:hiroshi
        正:タダシ:tadashi 功:イサオ:isao 進:ススム:susumu 弘:ヒロシ:hiroshi 修:オサム:osamu
        武:タケシ:takeshi 昭:アキラ:akira 勇:イサム:isamu 和夫:カズオ:kazuo 一郎:イチロウ:ichiro
        正雄:マサオ:masao 義雄:ヨシオ:yoshio 秀夫:ヒデオ:hideo 幸男:ユキオ:yukio 隆:タカシ:takashi"""),
    "m": _triples("""
        太郎:タロウ:taro 誠:マコト:makoto 健一:ケンイチ:kenichi 大輔:ダイスケ:daisuke 直樹:ナオキ:naoki
        拓也:タクヤ:takuya 和也:カズヤ:kazuya 達也:タツヤ:tatsuya 哲也:テツヤ:tetsuya 聡:サトシ:satoshi
        剛:ツヨシ:tsuyoshi 学:マナブ:manabu 雄一:ユウイチ:yuichi 秀樹:ヒデキ:hideki 康弘:ヤスヒロ:yasuhiro
        純一:ジュンイチ:junichi 明:アキラ:akira 智也:トモヤ:tomoya 浩二:コウジ:koji 健太:ケンタ:kenta"""),
    "y": _triples("""
        翔太:ショウタ:shota 健太:ケンタ:kenta 大樹:ダイキ:daiki 亮:リョウ:ryo 蓮:レン:ren
        悠真:ユウマ:yuma 陽翔:ハルト:haruto 湊:ミナト:minato 颯太:ソウタ:sota 優斗:ユウト:yuto
        海斗:カイト:kaito 翼:ツバサ:tsubasa 俊介:シュンスケ:shunsuke 裕太:ユウタ:yuta 陸:リク:riku
        大和:ヤマト:yamato 樹:イツキ:itsuki 光:ヒカル:hikaru 拓海:タクミ:takumi 駿:シュン:shun"""),
}
FEMALE_NAMES = {
    "o": _triples("""
        節子:セツコ:setsuko 和子:カズコ:kazuko 幸子:サチコ:sachiko 京子:キョウコ:kyoko 洋子:ヨウコ:yoko
        恵子:ケイコ:keiko 文子:フミコ:fumiko 康子:ヤスコ:yasuko 典子:ノリコ:noriko 悦子:エツコ:etsuko
        久美子:クミコ:kumiko 弘子:ヒロコ:hiroko 美智子:ミチコ:michiko 良子:ヨシコ:yoshiko 花子:ハナコ:hanako
        千代子:チヨコ:chiyoko 静子:シズコ:shizuko 順子:ジュンコ:junko 信子:ノブコ:nobuko 陽子:ヨウコ:yoko"""),
    "m": _triples("""
        由美:ユミ:yumi 直美:ナオミ:naomi 真由美:マユミ:mayumi 智子:トモコ:tomoko 裕子:ユウコ:yuko
        明美:アケミ:akemi 香織:カオリ:kaori 美穂:ミホ:miho 恵:メグミ:megumi 理恵:リエ:rie
        真理子:マリコ:mariko 紀子:ノリコ:noriko 美香:ミカ:mika 由香:ユカ:yuka 沙織:サオリ:saori
        麻衣:マイ:mai 瞳:ヒトミ:hitomi 静香:シズカ:shizuka 千尋:チヒロ:chihiro 優子:ユウコ:yuko"""),
    "y": _triples("""
        美咲:ミサキ:misaki 愛:アイ:ai 彩:アヤ:aya 舞:マイ:mai さくら:サクラ:sakura
        結衣:ユイ:yui 陽菜:ヒナ:hina 葵:アオイ:aoi 凛:リン:rin 奈々:ナナ:nana
        綾香:アヤカ:ayaka 早紀:サキ:saki 千夏:チナツ:chinatsu 芽衣:メイ:mei 結菜:ユイナ:yuina
        杏:アン:an 琴音:コトネ:kotone 彩花:アヤカ:ayaka 莉子:リコ:riko 遥:ハルカ:haruka"""),
}

# (prefecture, city, area code, towns)
PLACES = [
    ("東京都", "世田谷区", "03", "桜新町 三軒茶屋 経堂 下北沢 用賀 成城 太子堂"),
    ("東京都", "杉並区", "03", "高円寺南 阿佐谷北 荻窪 西荻北 方南 下井草"),
    ("東京都", "練馬区", "03", "石神井町 大泉学園町 光が丘 練馬 豊玉北 関町北"),
    ("東京都", "品川区", "03", "大井 戸越 旗の台 西五反田 東大井 小山"),
    ("神奈川県", "横浜市青葉区", "045", "青葉台 美しが丘 新石川 藤が丘 市ケ尾町 荏田北"),
    ("神奈川県", "川崎市中原区", "044", "小杉町 新丸子町 木月 上丸子山王町 井田"),
    ("埼玉県", "さいたま市浦和区", "048", "高砂 常盤 仲町 岸町 北浦和 針ヶ谷"),
    ("千葉県", "船橋市", "047", "本町 前原西 夏見 習志野台 薬円台 湊町"),
    ("大阪府", "大阪市北区", "06", "梅田 天神橋 中崎 豊崎 本庄東 南森町"),
    ("大阪府", "豊中市", "06", "岡町 曽根東町 服部元町 庄内幸町 上野西 本町"),
    ("愛知県", "名古屋市千種区", "052", "今池 覚王山通 春岡 星が丘元町 猫洞通 内山"),
    ("福岡県", "福岡市中央区", "092", "大名 赤坂 薬院 平尾 六本松 警固"),
    ("北海道", "札幌市中央区", "011", "南一条西 北三条西 宮の森 円山西町 旭ケ丘"),
    ("宮城県", "仙台市青葉区", "022", "一番町 国分町 上杉 北山 八幡 木町通"),
    ("京都府", "京都市左京区", "075", "下鴨本町 北白川 岩倉中町 一乗寺 田中里ノ内町"),
    ("兵庫県", "神戸市東灘区", "078", "岡本 住吉宮町 御影 魚崎北町 本山北町"),
    ("広島県", "広島市中区", "082", "紙屋町 八丁堀 大手町 幟町 舟入町 十日市町"),
]
BUILDINGS = ["", "", "", "", "", "ハイツ", "コーポ", "マンション", "レジデンス", "荘", "ビル"]
BUILDING_NAMES = ["サン", "グリーン", "メゾン", "パーク", "ひまわり", "さくら", "シャトー", "アーバン"]
CLINIC_WORDS = ["さくら", "ひまわり", "あおば", "みどり", "駅前", "中央", "ひだまり", "のぞみ", "からだ",
                "若葉", "ふじ", "ひかり", "やすらぎ", "すこやか", "げんき", "つばさ", "ことぶき", "ゆい",
                "まごころ", "たいよう", "北口", "南口", "東口", "西口", "こころ", "はなみずき"]
HOURS = [("09:00", "20:00"), ("10:00", "20:00"), ("09:00", "19:00"), ("10:00", "21:00"),
         ("09:30", "19:30"), ("09:00", "21:00")]
CLOSED = ["6", "6", "6", "3", "2", "36", "", "0"]  # Monday = 0 … Sunday = 6
SPECIALTIES = {
    "整体院": ["整体・骨盤矯正", "姿勢改善", "産後骨盤ケア", "肩こり・腰痛", "筋膜リリース", "ストレッチ"],
    "接骨院": ["柔道整復", "スポーツ外傷", "交通事故施術", "骨盤矯正", "テーピング", "高齢者の機能訓練"],
    "整骨院": ["柔道整復", "スポーツ障害", "骨盤矯正", "交通事故施術", "姿勢矯正", "リハビリ"],
    "鍼灸院": ["鍼灸", "美容鍼", "不妊鍼灸", "自律神経の不調", "スポーツ鍼灸", "頭痛・眼精疲労"],
}
CLINIC_TYPES = ["整体院", "接骨院", "整骨院", "鍼灸院"]
CLINIC_TYPE_WEIGHTS = [35, 30, 10, 25]
APPOINTMENT_NOTES = ["電話予約", "Web予約", "回数券利用", "駐車場利用", "前回キャンセル分の振替",
                     "お子様連れ", "LINE予約", "保険証持参", "前回と同じ施術希望", "時間変更あり"]

# Complaints: where it hurts (the text and its body-chart marks, region:kind) and the phrases
# of a record about it.
COMPLAINTS = [
    {
        "where": {"両肩": "back-shoulder-right:stiffness back-shoulder-left:stiffness",
                  "右肩から首にかけて": "back-shoulder-right:stiffness back-neck:stiffness",
                  "左肩": "back-shoulder-left:stiffness",
                  "肩甲骨の内側": "back-shoulder-blade-right:stiffness back-shoulder-blade-left:stiffness",
                  "首から肩": "back-neck:stiffness back-shoulder-right:stiffness back-shoulder-left:stiffness"},
        "what": ["のこり", "の張り感", "の重だるさ", "の強いこり"],
        "find": ["僧帽筋上部の過緊張", "肩甲挙筋に圧痛", "頸部の可動域に軽度制限",
                 "頭部前方位・猫背姿勢", "僧帽筋に硬結", "菱形筋の緊張"],
        "focus": ["肩甲帯", "頸肩部", "肩背部"],
        "advice": ["肩回しのストレッチを1日3回", "1時間ごとに休憩して肩を動かす",
                   "入浴で肩を温める", "モニターの高さを目線に合わせる", "枕の高さを見直す"],
    },
    {
        "where": {"腰部": "back-lower-back:pain",
                  "右腰部": "back-lower-back:pain back-buttock-right:pain",
                  "左腰部": "back-lower-back:pain back-buttock-left:pain",
                  "腰から背中にかけて": "back-lower-back:pain back-mid-back:stiffness",
                  "腰の中央": "back-lower-back:pain"},
        "what": ["の痛み", "の鈍痛", "の重だるさ", "の張り"],
        "find": ["腰方形筋の過緊張", "L4/5 棘突起周囲に圧痛", "SLR 陰性",
                 "骨盤の左右差あり", "腸腰筋の短縮", "ケンプテスト陰性", "脊柱起立筋の緊張"],
        "focus": ["腰部", "腰臀部", "骨盤周囲"],
        "advice": ["重い物を持つときは膝を曲げる", "長時間の座位を避ける", "腰部のストレッチを朝晩",
                   "骨盤体操を1日2回", "コルセットは日中のみ使用"],
    },
    {
        "where": {"右膝": "front-knee-right:pain", "左膝": "front-knee-left:pain",
                  "両膝": "front-knee-right:pain front-knee-left:pain",
                  "右膝内側": "front-knee-right:pain", "左膝の裏": "back-knee-left:pain"},
        "what": ["の痛み", "の違和感", "のこわばり", "の腫れ感"],
        "find": ["内側関節裂隙に圧痛", "大腿四頭筋の筋力低下", "軽度の腫脹あり",
                 "膝蓋骨の可動性低下", "O脚傾向", "屈曲120°で疼痛"],
        "focus": ["膝関節周囲", "大腿部", "下肢"],
        "advice": ["大腿四頭筋の筋トレ（タオルつぶし）", "階段は手すりを使う", "正座を避ける",
                   "膝を冷やさない", "体重管理"],
    },
    {
        "where": {"首": "back-neck:pain", "首の右側": "back-neck:pain front-neck:stiffness",
                  "首の左側": "back-neck:pain front-neck:stiffness",
                  "首の付け根": "back-neck:pain back-upper-back:stiffness"},
        "what": ["の痛み", "の寝違え", "の動かしにくさ", "のこわばり"],
        "find": ["頸部回旋で疼痛", "胸鎖乳突筋の緊張", "頸部伸展で疼痛",
                 "ジャクソンテスト陰性", "斜角筋の緊張", "頸部側屈に制限"],
        "focus": ["頸部", "頸肩部"],
        "advice": ["急に首を回さない", "首を温める", "枕の高さを調整", "首のストレッチはゆっくり"],
    },
    {
        "where": {"右臀部から太もも裏": "back-buttock-right:pain back-thigh-right:numbness",
                  "左下肢": "back-thigh-left:numbness back-calf-left:numbness",
                  "お尻の奥": "back-buttock-right:pain back-buttock-left:pain",
                  "右ふくらはぎ": "back-calf-right:numbness back-thigh-right:numbness"},
        "what": ["のしびれ", "のしびれと痛み", "の放散痛", "のつっぱり感"],
        "find": ["梨状筋に圧痛", "SLR 60°で陽性", "下肢の感覚に左右差なし",
                 "腰部伸展で増悪", "ハムストリングスの短縮"],
        "focus": ["腰臀部", "下肢後面", "梨状筋周囲"],
        "advice": ["梨状筋のストレッチ", "長時間座らない", "しびれが強まれば整形外科受診",
                   "足を組まない"],
    },
    {
        "where": {"右足首": "front-foot-right:pain", "左足関節": "front-foot-left:pain",
                  "右足の甲": "front-foot-right:pain", "左かかと": "back-heel-left:pain"},
        "what": ["の痛み", "の捻挫", "の腫れ", "の違和感"],
        "find": ["前距腓靭帯部に圧痛・腫脹", "内反ストレスで疼痛", "腫脹は軽減傾向",
                 "足関節背屈に制限", "荷重時痛あり"],
        "focus": ["足関節", "下腿部"],
        "advice": ["アイシングを1日2回 15分", "テーピングをして運動", "足首回し",
                   "患部の挙上", "運動は痛みのない範囲で"],
    },
    {
        "where": {"右肩": "front-shoulder-right:pain back-shoulder-right:pain",
                  "左肩": "front-shoulder-left:pain back-shoulder-left:pain",
                  "右肩の前側": "front-shoulder-right:pain",
                  "右肩から腕": "front-shoulder-right:pain front-upper-arm-right:pain"},
        "what": ["が上がらない", "の夜間痛", "の運動時痛", "の痛み"],
        "find": ["肩関節外転90°で制限", "結帯動作に制限", "棘下筋に圧痛",
                 "肩関節屈曲140°", "夜間痛は軽減"],
        "focus": ["肩関節周囲", "肩甲帯", "上肢"],
        "advice": ["振り子運動を1日3回", "肩を冷やさない", "痛みのない範囲で動かす",
                   "寝るときに腕の下にクッション"],
    },
    {
        "where": {"こめかみ": "front-head:pain", "後頭部": "back-head:pain back-neck:stiffness",
                  "頭全体": "front-head:pain back-head:pain", "目の奥": "front-head:pain"},
        "what": ["の締め付けられる痛み", "の頭重感", "の痛み", "の疲れ"],
        "find": ["後頭下筋群の緊張", "緊張型頭痛の傾向", "側頭筋に圧痛", "眼精疲労あり"],
        "focus": ["頭頸部", "後頭部", "頸肩部"],
        "advice": ["目を休める時間をとる", "首を温める", "睡眠をしっかりとる", "画面の明るさを下げる"],
    },
    {
        "where": {"背中": "back-upper-back:stiffness back-mid-back:stiffness",
                  "肩甲骨の間": "back-upper-back:pain",
                  "背中の右側": "back-shoulder-blade-right:pain back-mid-back:stiffness",
                  "背中の左側": "back-shoulder-blade-left:pain back-mid-back:stiffness"},
        "what": ["の張り", "の痛み", "のこり", "の重さ"],
        "find": ["菱形筋の過緊張", "胸椎の可動性低下", "脊柱起立筋の緊張", "呼吸時に軽い疼痛"],
        "focus": ["背部", "肩甲間部", "胸椎周囲"],
        "advice": ["胸を開くストレッチ", "深呼吸を意識する", "背もたれを使って座る"],
    },
    {
        "where": {"右股関節": "front-hip-right:pain", "左股関節": "front-hip-left:pain",
                  "脚の付け根": "front-hip-right:pain front-hip-left:pain",
                  "お尻の外側": "back-buttock-right:stiffness back-buttock-left:stiffness"},
        "what": ["の痛み", "の違和感", "の動かしにくさ", "の引っかかり感"],
        "find": ["股関節屈曲・内旋で疼痛", "中殿筋の筋力低下", "大腿筋膜張筋の緊張",
                 "パトリックテスト陰性"],
        "focus": ["股関節周囲", "臀部", "骨盤周囲"],
        "advice": ["お尻のストレッチ", "中殿筋のトレーニング", "あぐらを避ける", "ウォーキング 20分"],
    },
    {
        "where": {"右手首": "front-hand-right:pain", "右親指の付け根": "front-hand-right:pain",
                  "右肘の外側": "front-elbow-right:pain front-forearm-right:stiffness",
                  "左手首": "front-hand-left:pain"},
        "what": ["の痛み", "の腱鞘炎", "の使いすぎによる痛み", "の違和感"],
        "find": ["フィンケルシュタインテスト陽性", "前腕伸筋群の緊張",
                 "上腕骨外側上顆に圧痛", "握力低下（22kg）"],
        "focus": ["前腕部", "手関節周囲", "肘関節周囲"],
        "advice": ["手首を使いすぎない", "サポーターを日中使用", "前腕のストレッチ", "アイシング"],
    },
    {
        "where": {"産後の腰": "back-lower-back:pain",
                  "骨盤まわり": "back-buttock-right:stiffness back-buttock-left:stiffness",
                  "恥骨": "front-abdomen:pain",
                  "腰から骨盤": "back-lower-back:pain back-buttock-left:stiffness"},
        "what": ["の痛み", "のゆがみ", "の不安定感", "の違和感"],
        "find": ["骨盤の前傾", "仙腸関節に圧痛", "腹筋群の筋力低下", "骨盤の左右差あり"],
        "focus": ["骨盤", "腰臀部"],
        "advice": ["骨盤ベルトを使用", "骨盤底筋トレーニング", "抱っこは左右交互に"],
    },
    {
        "where": {"全身": "", "体全体": "",
                  "肩と背中": "back-shoulder-right:stiffness back-shoulder-left:stiffness back-upper-back:stiffness",
                  "手足": ""},
        "what": ["の倦怠感", "の冷え", "の疲れ", "のだるさ"],
        "find": ["全身の筋緊張", "腹部の冷え", "脈やや速い", "睡眠不足の傾向"],
        "focus": ["全身", "背部", "腹部"],
        "advice": ["湯船につかる", "睡眠を7時間とる", "軽い運動を続ける", "水分をこまめにとる"],
    },
]
ONSETS = ["3日前から", "1週間前から", "2週間前から", "先月から", "以前から慢性的に", "昨日から急に",
          "半年ほど前から", "仕事が忙しくなってから", "運動の後から", "朝起きたときから"]
TRIGGERS = ["デスクワークで悪化", "夕方に強くなる", "朝が特につらい", "動き始めに痛む",
            "長時間の立ち仕事で悪化", "寒いと悪化", "入浴で楽になる", "階段で増悪",
            "スマートフォン使用後に強い", "同じ姿勢が続くと悪化"]
PROGRESS = ["前回より軽減", "前回と同程度", "やや改善", "痛み軽減（NRS 6→3）", "初回時より改善",
            "再燃あり", "改善傾向", "NRS 4", "NRS 5", "可動域改善", "症状安定"]
# Treatments by clinic type: the first names the area ({f}), more may follow.
TREATMENTS = {
    "整体院": (["{f}の手技療法 {n}分", "{f}の筋膜リリース", "{f}のストレッチ施術",
               "{f}のトリガーポイント療法"],
              ["骨盤矯正", "姿勢調整", "関節調整", "ストレッチ指導"]),
    "接骨院": (["{f}の手技療法 {n}分", "{f}に干渉波 10分", "{f}に超音波療法", "{f}に温罨法"],
              ["干渉波 10分", "温罨法 10分", "冷罨法", "テーピング", "マイクロカレント",
               "運動療法"]),
    "整骨院": (["{f}の手技療法 {n}分", "{f}に低周波 10分", "{f}に温罨法", "{f}のストレッチ"],
              ["低周波 10分", "温罨法 10分", "テーピング", "骨盤矯正", "超音波療法"]),
    "鍼灸院": (["{f}に置鍼 {n}分", "{f}に低周波鍼通電 10分", "{f}に台座灸", "{f}の手技療法 {n}分"],
              ["円皮鍼", "温灸", "肩井・合谷に単刺", "足三里に灸", "耳つぼ"]),
}
RECORD_NOTES = ["", "", "", "次回1週間後", "次回2週間後", "次回3日後", "施術後の揉み返しなし",
                "問診票更新済み", "保険証確認済み", "回数券 3/10 回目", "様子を見て来週予約",
                "仕事が繁忙期とのこと", "運動再開の相談あり", "整形外科受診を勧めた"]
TEMPLATES = [  # field, title, body ({focus}-free: the clinic's stock phrases)
    ("symptoms", "肩こり", "肩から首にかけてのこり。デスクワークで悪化。"),
    ("symptoms", "腰痛", "腰部の痛み。前屈で増悪。"),
    ("symptoms", "膝痛", "膝の痛み。階段の昇り降りで増悪。"),
    ("diagnosis", "経過良好", "前回より症状軽減。経過良好。"),
    ("treatment", "手技20分", "手技療法 20分"),
    ("treatment", "温罨法", "温罨法 10分"),
    ("prescription", "ストレッチ", "ストレッチを1日3回"),
    ("prescription", "温める", "入浴で患部を温める"),
    ("notes", "次回1週間後", "次回は1週間後"),
    ("notes", "次回2週間後", "次回は2週間後"),
]
TEMPLATE_EXTRA = {
    "整体院": ("treatment", "骨盤矯正", "骨盤矯正・姿勢調整"),
    "接骨院": ("treatment", "電療", "干渉波 10分"),
    "整骨院": ("treatment", "電療", "低周波 10分"),
    "鍼灸院": ("treatment", "鍼", "鍼治療（置鍼 15分）"),
}


# --- fast date and time strings ---------------------------------------------------------------

TIME_OF_DAY = [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
_DAY_STRINGS = {}


def _day(ordinal):
    text = _DAY_STRINGS.get(ordinal)
    if text is None:
        text = _DAY_STRINGS[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def _minutes(hhmm):
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def months_before(day, months):
    """The same day of the month `months` months earlier (the month's last day if shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- the result --------------------------------------------------------------------------------

@dataclass
class Result:
    clinics: list = field(default_factory=list)  # (code, name, plan, therapists)
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    size_bytes: int = 0
    first_day: date = None
    last_day: date = None

    def summary_lines(self, password=PASSWORD, shown=5):
        counts = ", ".join(f"{table} {number:,}" for table, number in self.counts.items())
        lines = [f"generated {len(self.clinics)} clinics ({self.first_day} to {self.last_day}, "
                 f"bookings ahead to {self.last_day + timedelta(days=FUTURE_DAYS)}) "
                 f"in {_clock(self.seconds)}; {self.size_bytes / 2**20:,.0f} MiB",
                 counts,
                 f"password of every generated user: {password}",
                 f"users per clinic: {OWNER} (owner), {RECEPTIONIST.format(1)} (receptionist), "
                 f"{THERAPIST.format(1)}…{THERAPIST.format('N')} (therapists)"]
        plans = {}
        for code, name, plan, therapists in self.clinics:
            plans.setdefault(plan, []).append((code, name, therapists))
        lines.append("plans: " + ", ".join(f"{plan} {len(rows)}" for plan, rows in plans.items()))
        lines.append("some clinic codes:")
        chosen = [c for c in self.clinics[:shown]]
        for plan in ("enterprise", "pro", "starter"):
            extra = next((c for c in self.clinics if c[2] == plan and c not in chosen), None)
            if extra and plan not in {c[2] for c in chosen}:
                chosen.append(extra)
        for code, name, plan, therapists in chosen:
            lines.append(f"  {code:6} {name}（{plan}, 施術者 {therapists}人）")
        return lines


def _clock(seconds):
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def stderr_progress(line):
    print(line, file=sys.stderr, flush=True)


# --- the generator ---------------------------------------------------------------------------

class _Ids:
    """The next free id of each table (rows are inserted with explicit ids, in id order)."""

    TABLES = ("clinics", "users", "therapists", "patients", "appointments", "medical_records",
              "record_revisions", "record_templates", "audit_log", "platform_audit_log")

    def __init__(self, conn):
        self.next = {t: (conn.execute(f"SELECT MAX(id) FROM {t}").fetchone()[0] or 0) + 1
                     for t in self.TABLES}

    def take(self, table, count=1):
        first = self.next[table]
        self.next[table] = first + count
        return first


def _cumulative(weights):
    """Cumulative weights for random.choices."""
    total, out = 0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class Generator:
    def __init__(self, conn, clinics, patients, months, records_per_month, seed, password_hash,
                 today, progress):
        self.conn = conn
        self.n_clinics = clinics
        self.n_patients = patients
        self.months = months
        self.rate = records_per_month
        self.rng = random.Random(seed)
        self.password_hash = password_hash
        self.today = today
        self.progress = progress or (lambda line: None)
        self.first_day = months_before(today, months)
        self.ids = None  # read from the database when the run starts
        self.counts = dict.fromkeys(("clinics", "users", "therapists", "patients", "appointments",
                                     "medical_records", "record_revisions", "record_templates",
                                     "audit_log"), 0)
        self.duration_cum = _cumulative(DURATION_WEIGHTS)
        self.pools = None
        self._holidays = {}

    # - pools -

    def _build_record_pools(self):
        """Per clinic type and complaint, 2**POOL_BITS complete record contents."""
        rng = random.Random(self.rng.random())
        size = 1 << POOL_BITS
        self.pools = {}
        for kind in CLINIC_TYPES:
            for index, complaint in enumerate(COMPLAINTS):
                pool = []
                for _ in range(size):
                    where = rng.choice(list(complaint["where"]))
                    symptoms = f"{where}{rng.choice(complaint['what'])}。{rng.choice(ONSETS)}。"
                    if rng.random() < 0.7:
                        symptoms += rng.choice(TRIGGERS) + "。"
                    finds = rng.sample(complaint["find"], rng.choice((1, 2, 2, 3)))
                    diagnosis = "、".join(finds) + "。" + rng.choice(PROGRESS) + "。"
                    focused, extra = TREATMENTS[kind]
                    steps = [rng.choice(focused).format(f=rng.choice(complaint["focus"]),
                                                        n=rng.choice((10, 15, 20, 20, 30)))]
                    steps += [step for step in rng.sample(extra, rng.choice((0, 1, 1, 2)))
                              if step.split()[0] not in steps[0]]
                    treatment = "、".join(steps)
                    prescription = "、".join(rng.sample(complaint["advice"], rng.choice((1, 1, 2))))
                    notes = rng.choice(RECORD_NOTES)
                    marks = complaint["where"][where].split()
                    if marks and rng.random() < 0.15:
                        marks = []  # not every visit gets the drawing
                    elif len(marks) > 1 and rng.random() < 0.3:
                        marks = rng.sample(marks, 1)
                    chart = body_chart.dumps([dict(zip(("region", "kind"), m.split(":")))
                                              for m in marks])
                    pool.append((symptoms, diagnosis, treatment, prescription, notes, chart))
                self.pools[kind, index] = pool

    def _is_holiday(self, ordinal):
        found = self._holidays.get(ordinal)
        if found is None:
            found = self._holidays[ordinal] = bool(jpholiday.is_holiday(date.fromordinal(ordinal)))
        return found

    # - clinics -

    def plan_clinics(self):
        """Each clinic's shape: type, place, hours, therapists, record rate and plan."""
        rng, specs, names = self.rng, [], set()
        sizes = list(THERAPIST_COUNTS)
        weights = list(THERAPIST_COUNTS.values())
        for number in range(1, self.n_clinics + 1):
            therapists = rng.choices(sizes, weights)[0]
            place = rng.choice(PLACES)
            kind = rng.choices(CLINIC_TYPES, CLINIC_TYPE_WEIGHTS)[0]
            town = rng.choice(place[3].split())
            for attempt in range(50):
                word = rng.choice(CLINIC_WORDS)
                name = (f"{town}{word}{kind}" if attempt < 10 or rng.random() < 0.5
                        else f"{word}{kind} {town}院")
                if attempt >= 20:
                    name = f"{rng.choice(FAMILY_NAMES)[0]}{kind}{'' if attempt < 30 else number}"
                if name not in names:
                    break
            names.add(name)
            opens, closes = rng.choice(HOURS)
            specs.append(SimpleNamespace(
                number=number, code=f"c{number:03d}", name=name, kind=kind, place=place,
                town=town, therapists=therapists,
                weight=therapists ** SIZE_EXPONENT * rng.uniform(0.9, 1.1),
                opens=opens, closes=closes, closed=rng.choice(CLOSED)))
        total = sum(spec.weight for spec in specs)
        for spec in specs:
            spec.rate = self.rate * self.n_clinics * spec.weight / total if total else 0
            spec.plan, spec.max_patients = self._plan_for(spec)
        return specs

    def _plan_for(self, spec):
        """The smallest plan that holds the clinic (some large ones choose enterprise)."""
        patients = self.n_patients
        for name in ("starter", "pro"):
            plan = PLANS[name]
            fits = (spec.therapists <= plan.therapists
                    and spec.rate * 1.1 <= plan.records_per_month * PLAN_HEADROOM)
            if name == "pro" and spec.therapists >= 7 and self.rng.random() < 0.4:
                fits = False  # a big clinic that took enterprise
            if fits:
                limit = None
                if patients > plan.patients * 0.9:
                    limit = int(math.ceil(patients * 1.3 / 50) * 50)
                return name, limit
        return "enterprise", None

    # - the run -

    def run(self):
        started = _time.monotonic()
        specs = self.plan_clinics()
        self._build_record_pools()
        total_records = 0
        for done, spec in enumerate(specs, start=1):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # Ids and the platform chain's end are read inside the clinic's write
                # transaction, so a log-in between two clinics cannot collide with them.
                self.ids = _Ids(self.conn)
                self._clinic(spec, self._last_platform_hash())
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            total_records = self.counts["medical_records"]
            elapsed = _time.monotonic() - started
            left = elapsed / done * (len(specs) - done)
            self.progress(f"clinic {done}/{len(specs)}: {total_records:,} records, "
                          f"{_clock(elapsed)} elapsed, ~{_clock(left)} left")
        self.progress("ANALYZE …")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        result = Result(clinics=[(s.code, s.name, s.plan, s.therapists) for s in specs],
                        counts=dict(self.counts), seconds=_time.monotonic() - started,
                        first_day=self.first_day, last_day=self.today)
        return result

    def _last_platform_hash(self):
        row = self.conn.execute(
            "SELECT row_hash FROM platform_audit_log ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS_HASH

    def _insert(self, sql, rows):
        for start in range(0, len(rows), INSERT_BATCH):
            self.conn.executemany(sql, rows[start:start + INSERT_BATCH])

    def _clinic(self, spec, platform_hash):
        rng, ids, conn = self.rng, self.ids, self.conn
        first_ord = self.first_day.toordinal()
        created = _day(first_ord - rng.randint(30, 720)) + TIME_OF_DAY[10 * 3600]
        clinic_id = ids.take("clinics")
        pref, city, area, _ = spec.place
        clinic_phone = self._landline(area)
        conn.execute(
            "INSERT INTO clinics (id, code, name, address, phone, email, subscription_plan,"
            " max_patients, status, opens_at, closes_at, closed_weekdays, slot_minutes, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)",
            (clinic_id, spec.code, spec.name, self._address(pref, city, spec.town, building=False),
             clinic_phone, f"info@{spec.code}.example.jp", spec.plan, spec.max_patients,
             spec.opens, spec.closes, spec.closed, SLOT_MINUTES, created))
        self.counts["clinics"] += 1
        self._platform_audit(clinic_id, spec, created, platform_hash)

        # Staff: owner, receptionists, one account per therapist.
        staff = [(OWNER, "owner", f"院長 {rng.choice(FAMILY_NAMES)[0]}")]
        for n in range(1, (1 if spec.therapists <= 4 else 2) + 1):
            staff.append((RECEPTIONIST.format(n), "receptionist", f"受付 {rng.choice(FAMILY_NAMES)[0]}"))
        therapist_people = [self._person(rng.randint(1960, 2000)) for _ in range(spec.therapists)]
        for n, person in enumerate(therapist_people, start=1):
            staff.append((THERAPIST.format(n), "therapist", person["name"]))
        first_user = ids.take("users", len(staff))
        user_rows = [(first_user + i, clinic_id, username, self.password_hash, role, label, created)
                     for i, (username, role, label) in enumerate(staff)]
        conn.executemany("INSERT INTO users (id, clinic_id, username, password, role, display_name,"
                         " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", user_rows)
        self.counts["users"] += len(user_rows)
        front_desk = [row[0] for row in user_rows if row[4] != "therapist"]
        front_desk_cum = _cumulative([1 if row[4] == "owner" else 6 for row in user_rows
                                if row[4] != "therapist"])
        therapist_users = [row[0] for row in user_rows if row[4] == "therapist"]
        self._clinic_audit(clinic_id, user_rows, created)

        first_therapist = ids.take("therapists", spec.therapists)
        therapist_rows = []
        for i, person in enumerate(therapist_people):
            therapist_rows.append((
                first_therapist + i, clinic_id, person["name"], self._license(spec.kind),
                rng.choice(SPECIALTIES[spec.kind]), self._mobile(),
                f"{person['given_romaji']}.{person['family_romaji']}@{spec.code}.example.jp",
                therapist_users[i], created, created))
        conn.executemany("INSERT INTO therapists (id, clinic_id, name, license_number, specialty,"
                         " phone, email, status, user_id, created_at, updated_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)", therapist_rows)
        self.counts["therapists"] += len(therapist_rows)

        self._templates(clinic_id, spec, created)
        self._history(spec, clinic_id, first_therapist, therapist_users, front_desk,
                      front_desk_cum, created)

    # - people and contact details -

    def _person(self, birth_year, gender=None):
        rng = self.rng
        if gender is None:
            gender = "女性" if rng.random() < 0.55 else "男性"
        era = "o" if birth_year < 1962 else ("m" if birth_year < 1990 else "y")
        if 1958 <= birth_year < 1966 or 1986 <= birth_year < 1993:
            era = rng.choice((era, "m"))
        family = rng.choice(FAMILY_NAMES)
        given = rng.choice((FEMALE_NAMES if gender == "女性" else MALE_NAMES)[era])
        return {"name": f"{family[0]} {given[0]}", "kana": f"{family[1]} {given[1]}",
                "family_romaji": family[2], "given_romaji": given[2], "gender": gender}

    def _mobile(self):
        rng = self.rng
        return f"{rng.choice(('090', '080', '070'))}-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}"

    def _landline(self, area):
        rng = self.rng
        middle = 4 if len(area) == 2 else 3
        local = rng.randint(10 ** (middle - 1) * 2, 10 ** middle - 1)
        return f"{area}-{local}-{rng.randint(0, 9999):04d}"

    def _address(self, pref, city, town, building=True):
        rng = self.rng
        text = f"{pref}{city}{town}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
        if building:
            kind = rng.choice(BUILDINGS)
            if kind:
                text += f" {rng.choice(BUILDING_NAMES)}{kind}{rng.randint(1, 5)}0{rng.randint(1, 9)}"
        return text

    def _license(self, kind):
        rng = self.rng
        if kind in ("接骨院", "整骨院"):
            return f"柔整 第{rng.randint(10000, 199999)}号"
        if kind == "鍼灸院":
            return f"はり 第{rng.randint(10000, 199999)}号・きゅう 第{rng.randint(10000, 199999)}号"
        return rng.choice(("", "", f"あん摩マッサージ指圧 第{rng.randint(10000, 199999)}号"))

    # - audit -

    def _platform_audit(self, clinic_id, spec, created, prev_hash):
        row = SimpleNamespace(
            admin_id=None, username="", action="clinic_created", object_type="clinic",
            object_id=clinic_id, ip="", created_at=created, prev_hash=prev_hash,
            detail=json.dumps({"code": spec.code, "plan": spec.plan,
                               "max_patients": spec.max_patients}, ensure_ascii=False))
        row.row_hash = PlatformAuditLog.compute_hash(row)
        self.conn.execute(
            "INSERT INTO platform_audit_log (id, admin_id, username, action, object_type,"
            " object_id, detail, ip, created_at, prev_hash, row_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.ids.take("platform_audit_log"), row.admin_id, row.username, row.action,
             row.object_type, row.object_id, row.detail, row.ip, row.created_at, row.prev_hash,
             row.row_hash))
        return row.row_hash

    def _clinic_audit(self, clinic_id, user_rows, created):
        """The clinic's chain: its staff accounts' creation, as create_user writes it."""
        prev_hash, rows = GENESIS_HASH, []
        for user_id, _, username, _, role, _, _ in user_rows:
            row = SimpleNamespace(
                clinic_id=clinic_id, user_id=None, username="(command line)",
                action="user_created", object_type="user", object_id=user_id,
                detail=json.dumps({"username": username, "role": role}, ensure_ascii=False),
                ip="", created_at=created, prev_hash=prev_hash)
            row.row_hash = AuditLog.compute_hash(row)
            rows.append((self.ids.take("audit_log"), clinic_id, row.user_id, row.username,
                         row.action, row.object_type, row.object_id, row.detail, row.ip,
                         row.created_at, row.prev_hash, row.row_hash))
            prev_hash = row.row_hash
        self.conn.executemany(
            "INSERT INTO audit_log (id, clinic_id, user_id, username, action, object_type,"
            " object_id, detail, ip, created_at, prev_hash, row_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.counts["audit_log"] += len(rows)

    def _templates(self, clinic_id, spec, created):
        rows = list(TEMPLATES) + [TEMPLATE_EXTRA[spec.kind]]
        first = self.ids.take("record_templates", len(rows))
        self.conn.executemany(
            "INSERT INTO record_templates (id, clinic_id, field, title, body, sort_order,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(first + i, clinic_id, f, title, body, i, created)
             for i, (f, title, body) in enumerate(rows)])
        self.counts["record_templates"] += len(rows)

    # - patients, appointments, records -

    def _open_days(self, spec):
        closed = {int(d) for d in spec.closed}
        return [o for o in range(self.first_day.toordinal(), self.today.toordinal())
                if (o - 1) % 7 not in closed]

    def _patients(self, spec, clinic_id, created):
        """P patients in chart-number order: INITIAL_PATIENTS registered before the history,
        the rest on open days spread over it (each comes on the day they register)."""
        rng, n = self.rng, self.n_patients
        open_days = self._open_days(spec) or [self.today.toordinal()]
        initial = min(n, max(1, int(round(n * INITIAL_PATIENTS))))
        joins = sorted(rng.choice(open_days) for _ in range(n - initial))
        opens = _minutes(spec.opens) * 60
        first_ord = self.first_day.toordinal()
        before = sorted(rng.randint(first_ord - 700, first_ord - 1) for _ in range(initial))
        pref, city, area, towns = spec.place
        towns = towns.split()
        first_id = self.ids.take("patients", n)
        rows, people = [], []
        for i in range(n):
            day = before[i] if i < initial else joins[i - initial]
            # Registered (on the phone, or at the desk) before the clinic opens that day.
            when = _day(day) + TIME_OF_DAY[max(0, opens - rng.randint(60, 1800))]
            age = int(min(92, max(16, rng.gauss(50, 17))))
            born = date(self.today.year - age, 1, 1) + timedelta(days=rng.randint(0, 364))
            gender = rng.choices(("女性", "男性", ""), (58, 40, 2))[0]
            person = self._person(born.year, gender or None)
            phone = self._mobile() if rng.random() < 0.8 else self._landline(area)
            email = ""
            if rng.random() < 0.35:
                email = (f"{person['given_romaji']}.{person['family_romaji']}{rng.randint(1, 99)}"
                         f"@{rng.choice(('example.jp', 'example.com', 'example.ne.jp'))}")
            address = (self._address(pref, city, rng.choice(towns)) if rng.random() < 0.92 else "")
            rows.append([first_id + i, clinic_id, i + 1, person["name"], person["kana"],
                         normalize_kana(person["kana"]), born.isoformat(), gender, phone,
                         normalize_phone(phone), email, address, 1, when, when])
            main = rng.randrange(len(COMPLAINTS))
            second = rng.randrange(len(COMPLAINTS))
            people.append((day, main, second, rng.lognormvariate(0, 0.9), when))
        return rows, people

    def _history(self, spec, clinic_id, first_therapist, therapist_users, front_desk,
                 front_desk_cum, created):
        rng = self.rng
        random_ = rng.random
        getrandbits = rng.getrandbits
        choices = rng.choices
        patient_rows, people = self._patients(spec, clinic_id, created)
        first_patient = patient_rows[0][0]

        closed = {int(d) for d in spec.closed}
        opens = _minutes(spec.opens)
        slots = (_minutes(spec.closes) - opens) // SLOT_MINUTES
        busy = int(slots * BUSY_SHARE)
        opens_s = opens * 60
        today_o, first_o = self.today.toordinal(), self.first_day.toordinal()
        last_o = today_o + FUTURE_DAYS

        # Therapists: a weekly day off for some (never leaving a day without two), a share of
        # the day's work.
        n_t = spec.therapists
        day_off = [None] * n_t
        open_weekdays = [d for d in range(7) if d not in closed]
        for t in range(n_t):
            if n_t >= 3 and rng.random() < 0.6 and open_weekdays:
                wd = rng.choice(open_weekdays)
                if sum(1 for x in day_off if x == wd) < n_t - 2:
                    day_off[t] = wd
        share = [rng.uniform(0.8, 1.2) for _ in range(n_t)]
        working = {wd: [t for t in range(n_t) if day_off[t] != wd] for wd in range(7)}
        working_cum = {wd: _cumulative([share[t] for t in ts]) for wd, ts in working.items()}

        # Appointments per open day: on average `rate` completed visits a month.
        load = {}
        for o in range(first_o, last_o + 1):
            wd = (o - 1) % 7
            if wd in closed:
                continue
            load[o] = WEEKDAY_LOAD[wd] * (HOLIDAY_LOAD if self._is_holiday(o) else 1.0)
        past_load = sum(v for o, v in load.items() if o < today_o)
        months = (today_o - first_o) / 30.4375
        per_load = (spec.rate / COMPLETED * months / past_load) if past_load else 0.0
        for o in load:
            if o >= today_o:  # ahead: nearly full this week, sparser later
                load[o] *= max(0.1, 0.95 - (o - today_o) / FUTURE_DAYS)

        # Patients join on their registration day and then come by their own frequency.
        pending = {}
        for index, person in enumerate(people):
            if person[0] >= first_o:
                pending.setdefault(person[0], []).append(index)
        pool = [i for i, p in enumerate(people) if p[0] < first_o]
        pool_cum = _cumulative([people[i][3] for i in pool])
        completed_patients = set()

        duration_cum = self.duration_cum
        pools = [self.pools[spec.kind, c] for c in range(len(COMPLAINTS))]
        mask = (1 << POOL_BITS) - 1
        appointment_id = self.ids.next["appointments"]
        record_id = self.ids.next["medical_records"]
        first_record = record_id
        appointments, records = [], []
        therapist_ids = [first_therapist + t for t in range(n_t)]
        n_front = len(front_desk)

        for o in sorted(load):
            wd = (o - 1) % 7
            joiners = pending.pop(o, None)
            if joiners:
                pool.extend(joiners)
                pool_cum = _cumulative([people[i][3] for i in pool])
            mean = load[o] * per_load
            count = int(rng.gauss(mean, math.sqrt(mean)) + 0.5) if mean > 0 else 0
            if count <= 0 or not pool:
                continue
            # Lay the day out on each therapist's grid of slots: no overlaps by construction.
            team = working[wd]
            per_therapist = [0] * n_t
            for t in choices(team, cum_weights=working_cum[wd], k=count):
                per_therapist[t] += 1
            # Each therapist's appointment lengths, up to BUSY_SHARE of the day; the rest goes
            # to the colleague with the most room (a full day only when nobody has any left).
            by_therapist, used, overflow = {}, {}, []
            for t in team:
                k = per_therapist[t]
                lengths = choices(DURATIONS, cum_weights=duration_cum, k=k) if k else []
                total = sum(lengths)
                while total > busy:
                    overflow.append(lengths.pop())
                    total -= overflow[-1]
                by_therapist[t], used[t] = lengths, total
            for length in overflow:
                t = max(team, key=lambda t: slots - used[t])
                if slots - used[t] >= length:
                    by_therapist[t].append(length)
                    used[t] += length
            day_slots = []
            for t, lengths in by_therapist.items():
                k = len(lengths)
                if not k:
                    continue
                positions = sorted(rng.sample(range(slots - used[t] + k), k))
                offset = 0
                for i in range(k):
                    day_slots.append((positions[i] - i + offset, t, lengths[i]))
                    offset += lengths[i]
            day_slots.sort()
            # Patients: today's new registrations first, then regulars; one visit a day each.
            wanted = len(day_slots)
            chosen = list(joiners or ())[:wanted]
            if len(chosen) < wanted:
                seen = set(chosen)
                for p in choices(pool, cum_weights=pool_cum, k=2 * wanted + 4):
                    if p not in seen:
                        seen.add(p)
                        chosen.append(p)
                        if len(chosen) == wanted:
                            break
                if len(chosen) < wanted:  # a busy day in a small clinic: whoever is left
                    rest = [p for p in pool if p not in seen]
                    chosen += rng.sample(rest, min(len(rest), wanted - len(chosen)))
            rng.shuffle(chosen)
            day_text = _day(o)
            past = o < today_o
            for (slot, t, length), p in zip(day_slots, chosen):
                start_s = opens_s + slot * SLOT_MINUTES * 60
                end_s = start_s + length * SLOT_MINUTES * 60
                start = day_text + TIME_OF_DAY[start_s]
                lead = int(random_() * 15) if random_() < 0.7 else 0
                if lead:
                    booked_at = _day(o - lead) + TIME_OF_DAY[opens_s + int(random_() * 36000)]
                else:
                    booked_at = day_text + TIME_OF_DAY[max(0, start_s - 60 - int(random_() * 5400))]
                person = people[p]
                if booked_at < person[4]:
                    booked_at = person[4]
                if booked_at > start:
                    booked_at = start
                r = random_()
                notes = APPOINTMENT_NOTES[int(random_() * len(APPOINTMENT_NOTES))] if r < 0.04 else ""
                by = front_desk[0] if n_front == 1 else choices(front_desk, cum_weights=front_desk_cum)[0]
                if not past:
                    status, updated = "booked", booked_at
                else:
                    r = random_()
                    if r < COMPLETED:
                        status, updated = "completed", day_text + TIME_OF_DAY[end_s]
                    elif r < COMPLETED + CANCELLED:
                        status = "cancelled"
                        updated = max(booked_at, _day(o - 1) + TIME_OF_DAY[opens_s + 3600])
                    else:
                        status, updated = "no_show", day_text + TIME_OF_DAY[end_s]
                appointments.append((appointment_id, clinic_id, first_patient + p,
                                     therapist_ids[t], start, length * SLOT_MINUTES, status, notes,
                                     by, booked_at, updated))
                if status == "completed":
                    completed_patients.add(p)
                    content = pools[person[1] if random_() < 0.8 else person[2]][getrandbits(POOL_BITS) & mask]
                    written = day_text + TIME_OF_DAY[min(86399, end_s + 60 + int(random_() * 1200))]
                    author = therapist_users[t]
                    records.append((record_id, clinic_id, first_patient + p, therapist_ids[t],
                                    appointment_id, day_text, *content, author, written, written,
                                    author))
                    record_id += 1
                appointment_id += 1

        for p in completed_patients:
            patient_rows[p][12] = 0
        conn = self.conn
        conn.executemany(
            "INSERT INTO patients (id, clinic_id, chart_number, name, name_kana, kana_key,"
            " date_of_birth, gender, phone, phone_digits, email, address, is_new_patient,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            patient_rows)
        self._insert(
            "INSERT INTO appointments (id, clinic_id, patient_id, therapist_id, appointment_date,"
            " duration_minutes, status, notes, created_by, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", appointments)
        self._insert(
            "INSERT INTO medical_records (id, clinic_id, patient_id, therapist_id, appointment_id,"
            " visit_date, symptoms, diagnosis, treatment, prescription, notes, body_chart,"
            " created_by, created_at, updated_at, updated_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", records)
        # Revision 1 of every record, with the same content (as MedicalRecord.write makes it).
        first_revision = self.ids.take("record_revisions", len(records))
        conn.execute(
            "INSERT INTO record_revisions (id, clinic_id, record_id, revision, action,"
            " therapist_id, visit_date, symptoms, diagnosis, treatment, prescription, notes,"
            " body_chart, edited_by, edited_at)"
            " SELECT id + ?, clinic_id, id, 1, 'created', therapist_id, visit_date, symptoms,"
            " diagnosis, treatment, prescription, notes, body_chart, created_by, created_at"
            " FROM medical_records WHERE id >= ? AND id < ? ORDER BY id",
            (first_revision - first_record, first_record, record_id))
        self.ids.next["appointments"] = appointment_id
        self.ids.next["medical_records"] = record_id
        self.counts["patients"] += len(patient_rows)
        self.counts["appointments"] += len(appointments)
        self.counts["medical_records"] += len(records)
        self.counts["record_revisions"] += len(records)


# --- entry points --------------------------------------------------------------------------

def database_path():
    """The app's SQLite file; GeneratorError for any other database."""
    db = getattr(database, "obj", None)
    if not isinstance(db, SqliteDatabase):
        raise GeneratorError("the generator writes SQLite databases only")
    return db.database


def generate(path, clinics, patients=DEFAULT_PATIENTS, months=DEFAULT_MONTHS,
             records_per_month=DEFAULT_RECORDS_PER_MONTH, seed=None, password_hash=None,
             today=None, progress=stderr_progress):
    """Fill the empty, migrated SQLite database at `path`; returns a Result.

    password_hash: the hash every generated user gets (hash one password once: Argon2 is slow).
    """
    if password_hash is None:
        raise GeneratorError("a password hash is needed")
    today = today or clinic_today()
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    except sqlite3.Error as error:
        raise GeneratorError(f"cannot open {path}: {error}") from None
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        newest = available("sqlite")[-1][0]
        version = (conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
                   if "schema_migrations" in tables else 0) or 0
        if version < newest:
            raise GeneratorError(f"the database is at schema version {version}, not {newest}: "
                                 "run `flask --app karusaku init-db` first")
        existing = conn.execute("SELECT COUNT(*) FROM clinics").fetchone()[0]
        if existing:
            raise GeneratorError(f"the database already has {existing} clinic(s); "
                                 "the generator fills an empty database only")
        saved = {name: conn.execute(f"PRAGMA {name}").fetchone()[0]
                 for name in ("synchronous", "cache_size")}
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1048576")  # 1 GiB while generating
        conn.execute("PRAGMA temp_store = MEMORY")
        try:
            generator = Generator(conn, clinics, patients, months, records_per_month, seed,
                                  password_hash, today, progress)
            result = generator.run()
        finally:
            for name, value in saved.items():
                conn.execute(f"PRAGMA {name} = {int(value)}")
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        result.size_bytes = page_count * page_size
        return result
    except sqlite3.Error as error:
        raise GeneratorError(f"database error while generating: {error}") from None
    finally:
        conn.close()
