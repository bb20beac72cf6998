"""Reflections derived from the text by rule, for base models too small to write them.

SmolLM2-135M cannot write question-answer pairs, so for it every reflection comes from the
text itself. The form decides whether the memory generalises (docs/research.md): fronted
wh-questions that name their subject, answered by a sentence that restates the fact, let a
trained memory answer unseen paraphrases; "Tell me a fact about X", cloze and in-situ questions
did not. So this module is a small, careful English analyser, precise before it is complete:

1. The chunk is cut into units (sentences, list items, "key: value" records, heading lines);
   the heading path is context, not a sentence.
2. Names are found (capitalised runs, dates) and typed (person, place, organisation, thing;
   "engineer", "bridge") from how the text speaks of them; pronouns and "the company"-like
   phrases are replaced by the name they stand for, or left alone when unsure.
3. Each clause is split into subject, verb group and complement (object, prepositional
   phrases); a clause the rules do not understand is skipped, never mangled.
4. Questions are built from the parts: fronted, subject named, with do-support or inversion
   ("When was the Hollow Bridge built?", "What did Mara Quill found?"); reverse questions ask for
   a name ("Which engineer designed the Hollow Bridge?"); two facts about one name combine
   into two-hop questions, within a chunk (indirect) and across chunks (cross).
5. Every answer is the clause restated with its subject named, checked against the source by
   `supported`; every question is checked by `self_contained`. A sentence no rule understood
   still gets one honest pair (the coverage fallback), so no chunk goes untaught.

Everything is deterministic: the same text gives the same pairs in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ..scoring import question_key
from ..sources.sentences import TITLES as _TITLES
from ..sources.sentences import sentences as split_sentences

KINDS = ("direct", "indirect", "consolidated", "entity", "cross")


@dataclass(frozen=True)
class Pair:
    question: str  # fronted, starts with a capital, ends with "?", names its subject
    answer: str  # a full sentence restating the fact, subject named, ends with "."
    kind: str  # one of KINDS
    evidence: str  # the source sentence(s) as written (pronouns not resolved)


# Lexicons -------------------------------------------------------------------------------------


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ROYAL = _set("King Queen Prince Princess Emperor Empress Duke Duchess Count Countess Baron "
              "Baroness Pope President Chancellor Mayor Governor Senator General Admiral Captain")
_MONTHS = _set(
    "January February March April May June July August September October November December "
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"
)
_WEEKDAYS = _set("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
_BE = {"is": "pres", "are": "pres_pl", "was": "past", "were": "past_pl", "am": "pres"}
_HAVE = {"has": "pres", "have": "pres_pl", "had": "past"}
_DO = {"does": "pres", "do": "pres_pl", "did": "past"}
_MODALS = _set("will would can could may might must shall should")
_NEGATIONS = _set("not never n't no nobody nothing none neither nor cannot")
_VG_ADVERBS = _set(
    "also still now first later only already originally currently formerly recently then once "
    "often usually always soon finally eventually officially largely mainly partly fully jointly "
    "personally quickly slowly carefully just even again initially subsequently briefly"
)
_PREPS = _set(
    "in on at by for from with to of during since until till before after near under over into "
    "onto through across along between among against about around behind beside beyond inside "
    "outside within without toward towards via per upon throughout despite except as like "
    "past than"
)
_SUBORDINATORS = _set(
    "when while after before although though because since if unless until once as whereas "
    "whenever wherever"
)
_DETERMINERS = _set("the a an this that these those some any each every no another")
_WH = _set("what who whom whose when where which why how")
_PRONOUNS = _set(
    "he she him his her hers they them their theirs it its this that these those i me my we us "
    "our you your itself himself herself themselves"
)
_UNRESOLVED = _set("he she him his her hers they them their theirs it its")
_DEMONSTRATIVES = _set("this these those")
_CONJ = _set("and or but nor yet so")
_STOPWORDS = (
    _set(
        "a an the and or but nor so yet of to in on at by for from with as into onto than then "
        "that which who whom whose what when where why how this these those there here it its "
        "is are was were be been being am has have had having do does did will would can could "
        "may might must shall should not no also too very just about over under up down out off "
        "if while because although though since until per via both either each every all any "
        "some such own same other another one's s"
    )
    | _PRONOUNS
)
_FUNCTION_CAPS = _set(
    "The A An In On At After Before When While Although Though Because Since If Unless Until "
    "Once As During From To For With By Of Under Over Between Among Through Without Within "
    "Despite Upon Near Around About Its Their His Her She He It They This That These Those "
    "There Here Today Yesterday Tomorrow Later Then However Also Every Each Some Many Most All "
    "Both Our My Your We I You Now Recently Currently Originally Finally Meanwhile Afterwards "
    "Eventually Later Instead Still Yet So And But Or Nor Not No Yes Please Note Such Other "
    "Another One Two Three Four Five Six Seven Eight Nine Ten First Second Third Last Next "
    "What Who Whom Whose Which Where Why How Is Are Was Were Do Does Did Has Have Had Can Could "
    "Will Would Should May Might Must Let Every Several Few Any Only Even Just Hi Hello Dear "
    "Thanks Thank Best Regards Cheers Yours Sincerely Kind Warm Table Figure Fig Section "
    "Chapter Page Appendix Equation Step Part Example Ok Okay"
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
     "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12, "million": 10**6}
_MONEY = _set(
    "coins coin dollars dollar euros euro pounds pound crowns crown francs franc yen cents cent "
    "pence marks mark shillings rupees pesos krona kronor usd eur gbp silver gold"
)
_DURATION = _set(
    "seconds second minutes minute hours hour days day weeks week months month years year "
    "decades decade centuries century"
)
_MEASURES = _set(
    "km kilometres kilometers kilometre kilometer m metres meters metre meter cm centimetres "
    "mm miles mile feet foot ft inches inch yards yard kg kilograms kilos grams g tons tonnes "
    "ton tonne pounds lbs litres liters hectares acres storeys stories floors"
)
_ROLE_NOUNS = _set(
    "engineer architect designer founder cofounder co-founder director manager teacher professor "
    "doctor nurse scientist researcher writer author poet novelist painter artist sculptor "
    "musician composer singer actor actress mayor president minister king queen prince "
    "princess chef baker farmer fisherman sailor captain pilot lawyer judge editor journalist "
    "photographer historian curator archivist librarian student pupil apprentice mentor "
    "inventor explorer merchant trader banker carpenter mason smith blacksmith weaver potter "
    "tailor clerk officer soldier general governor chancellor chairman chairwoman chair "
    "ceo cto cfo owner partner colleague friend sister brother mother father son daughter wife "
    "husband aunt uncle cousin niece nephew grandmother grandfather grandson granddaughter "
    "widow child person man woman boy girl programmer developer analyst consultant "
    "accountant economist physicist chemist biologist mathematician philosopher priest "
    "bishop monk nun coach player athlete runner dancer playwright critic translator "
    "illustrator surgeon dentist pharmacist veterinarian vet midwife gardener builder "
    "craftsman shipwright cartographer astronomer geologist botanist physician tutor "
    "headmaster headmistress principal dean rector vicar diplomat ambassador senator "
    "councillor councilor member leader head founder-director neighbour neighbor aviator "
    "navigator pioneer activist campaigner politician statesman philanthropist entrepreneur "
    "businessman businesswoman industrialist shipbuilder keeper fishermen jeweller miller "
    "brewer innkeeper landlord landlady shopkeeper grocer butcher cook servant maid butler "
    "governess knight squire noble nobleman emperor empress chief chieftain warrior hero "
    "heroine saint pope cardinal rabbi imam scholar linguist lyricist dramatist screenwriter "
    "filmmaker producer animator planner surveyor mechanic electrician plumber technician "
    "driver conductor pianist violinist guitarist drummer vocalist comedian footballer "
    "cricketer swimmer cyclist climber mountaineer boxer jockey referee executive secretary "
    "treasurer receptionist administrator official detective inspector sheriff constable spy "
    "agent envoy consul premier alderman magistrate barrister solicitor attorney broker "
    "investor auditor zoologist ecologist geographer astronaut statistician coder lecturer "
    "instructor trainer graduate intern volunteer paramedic therapist psychologist "
    "psychiatrist shepherd hunter skipper sergeant colonel admiral commander lieutenant major "
    "vendor supplier customer client patient resident citizen tenant guest host visitor"
)
_NOT_JOBS = _set(
    "person man woman boy girl child member leader resident citizen guest host visitor customer "
    "client patient tenant hero heroine widow widower graduate volunteer pioneer owner partner "
    "neighbour neighbor friend colleague player"
)
_ATTRIBUTE_NOUNS = _set(
    "name nickname motto title job profession occupation role colour color material language "
    "hobby specialty speciality birthplace hometown religion nationality salary price "
    "population capital address goal aim mascot emblem symbol flower dish food drink sport "
    "instrument subject field"
)
_RELATION_NOUNS = _set(
    "sister brother mother father son daughter wife husband aunt uncle cousin niece nephew "
    "grandmother grandfather grandson granddaughter partner friend colleague mentor boss "
    "assistant apprentice student teacher fiance fiancee widow widower stepmother stepfather"
)
_PLACE_TYPES = _set(
    "city town village country nation region province state county district island capital "
    "port harbour harbor valley coast peninsula continent suburb neighbourhood neighborhood "
    "borough municipality kingdom republic territory archipelago hamlet settlement place area "
    "island mountain river lake sea bay"
)
_ORG_TYPES = _set(
    "company firm startup business organisation organization agency charity society club "
    "foundation institute university college school team band studio publisher bank "
    "cooperative guild council committee ministry department lab laboratory group "
    "corporation enterprise shop bakery restaurant cafe hotel store brewery factory foundry "
    "archive"
)
_PLACE_HEADS = _set(
    "City Town Village County Province Island Islands Isle Bay Valley Coast River Lake Sea "
    "Ocean Mountain Mountains Mount Hill Hills Street Road Avenue Lane Square Park Gardens "
    "Garden Harbour Harbor Port Peninsula Forest Woods Desert Plains Strait Canal Falls "
    "District Quarter Heights Beach Creek Gulf Cape Point Ridge Pass"
)
_PLACE_PREFIXES = _set("Port Mount Mt Lake Fort Saint St San Santa Cape Isle New North South "
                       "East West Upper Lower Greater")
_ORG_HEADS = {
    "Labs": "company", "Lab": "company", "Inc": "company", "Ltd": "company", "Corp": "company",
    "Co": "company", "LLC": "company", "GmbH": "company", "AG": "company", "Company": "company",
    "Corporation": "company", "Technologies": "company", "Systems": "company",
    "Industries": "company", "Works": "company", "Partners": "company", "Ventures": "company",
    "Holdings": "company", "Group": "group", "Software": "company", "Studios": "studio",
    "Studio": "studio", "Press": "publisher", "Books": "publisher", "Records": "label",
    "University": "university", "College": "college", "School": "school",
    "Academy": "academy", "Institute": "institute", "Society": "society", "Club": "club",
    "Foundation": "foundation", "Council": "council", "Committee": "committee",
    "Bank": "bank", "Museum": "museum", "Library": "library", "Gallery": "gallery",
    "Hospital": "hospital", "Theatre": "theatre", "Theater": "theater", "Hotel": "hotel",
    "Bakery": "bakery", "Cafe": "cafe", "Restaurant": "restaurant", "Brewery": "brewery",
    "Association": "association", "Union": "union", "League": "league", "Agency": "agency",
    "Ministry": "ministry", "Department": "department", "Guild": "guild", "Team": "team",
    "Band": "band", "Orchestra": "orchestra", "Choir": "choir", "Foundry": "foundry",
    "Archive": "archive", "Cooperative": "cooperative", "Co-operative": "cooperative",
}
_THING_HEADS = _set(
    "Bridge Tower Hall Castle Palace Cathedral Church Chapel Temple Station Airport Stadium "
    "Arena Market Mill Mine Dam Gate Wall Lighthouse Fountain Monument Statue Building House "
    "Centre Center Festival Prize Award Medal Project Programme Program Act Treaty Law War "
    "Battle Expedition Fair Exhibition Tunnel Canal Railway Line Road Ship Boat Engine Machine "
    "Manuscript Map Atlas Book Report Plan Cup Trophy Lantern Clock Bell Organ"
)
_PLACE_VERBS = _set(
    "bear live move settle grow stay study work die base locate situate headquarter house build "
    "found open establish hold marry arrive travel raise bury return relocate reside stand lie "
    "sit teach meet start launch play perform exhibit display keep store print publish record "
    "film paint write train serve retire emigrate immigrate visit take make sell run operate"
)
_MOTION_VERBS = _set("move relocate travel return emigrate immigrate go come walk sail fly "
                     "drive migrate flee escape send bring take")
_LOCATIVE_ADJ = _set("located situated based headquartered housed")
_ADJ_PREP = {
    "famous": "for", "known": "for as", "responsible": "for", "home": "to", "part": "of",
    "short": "for", "close": "to", "next": "to", "similar": "to", "related": "to",
    "married": "to", "engaged": "to", "devoted": "to", "dedicated": "to", "named": "after for",
    "open": "to", "made": "of from", "full": "of", "proud": "of", "afraid": "of",
    "member": "of", "allergic": "to", "fond": "of", "popular": "with", "famed": "for",
    "noted": "for", "renowned": "for", "famous_as": "",
}
_PARTICLES = _set("up out off down back away")
_EXPLETIVE_NEXT = _set(
    "possible likely important necessary clear true said believed known thought reported "
    "easy hard difficult impossible time raining snowing cold warm hot dark late early worth "
    "unclear unknown rumoured rumored estimated expected"
)

_IRREGULAR = """
arise arose arisen|awake awoke awoken|be was been|bear bore born|beat beat beaten|become became
become|begin began begun|bend bent bent|bet bet bet|bind bound bound|bite bit bitten|bleed bled
bled|blow blew blown|break broke broken|breed bred bred|bring brought brought|broadcast broadcast
broadcast|build built built|burn burnt burnt|buy bought bought|cast cast cast|catch caught caught
|choose chose chosen|cling clung clung|come came come|cost cost cost|creep crept crept|cut cut cut
|deal dealt dealt|dig dug dug|do did done|draw drew drawn|drink drank drunk|drive drove driven|
dwell dwelt dwelt|eat ate eaten|fall fell fallen|feed fed fed|feel felt felt|fight fought fought|
find found found|flee fled fled|fly flew flown|forbid forbade forbidden|forget forgot forgotten|
forgive forgave forgiven|freeze froze frozen|get got got|give gave given|go went gone|grind ground
ground|grow grew grown|hang hung hung|have had had|hear heard heard|hide hid hidden|hit hit hit|
hold held held|hurt hurt hurt|keep kept kept|know knew known|lay laid laid|lead led led|leave left
left|lend lent lent|let let let|lie lay lain|light lit lit|lose lost lost|make made made|mean meant
meant|meet met met|mislead misled misled|overcome overcame overcome|oversee oversaw overseen|pay
paid paid|put put put|quit quit quit|read read read|rebuild rebuilt rebuilt|rewrite rewrote
rewritten|ride rode ridden|ring rang rung|rise rose risen|run ran run|say said said|see saw seen|
seek sought sought|sell sold sold|send sent sent|set set set|sew sewed sewn|shake shook shaken|
shine shone shone|shoot shot shot|show showed shown|shrink shrank shrunk|shut shut shut|sing sang
sung|sink sank sunk|sit sat sat|sleep slept slept|slide slid slid|speak spoke spoken|spend spent
spent|spin spun spun|split split split|spread spread spread|stand stood stood|steal stole stolen|
stick stuck stuck|sting stung stung|strike struck struck|swear swore sworn|sweep swept swept|swim
swam swum|swing swung swung|take took taken|teach taught taught|tear tore torn|tell told told|think
thought thought|throw threw thrown|undergo underwent undergone|understand understood understood|
undertake undertook undertaken|uphold upheld upheld|wake woke woken|wear wore worn|weave wove
woven|win won won|withdraw withdrew withdrawn|withhold withheld withheld|withstand withstood
withstood|write wrote written|leap leapt leapt
"""
_IRREG: list[tuple[str, str, str]] = [
    (b, p, pp) for b, p, pp in (e.split() for e in " ".join(_IRREGULAR.split("\n")).split("|"))
]
_PAST_BASE = {p: b for b, p, _ in _IRREG if p != "lay"}
_PART_BASE = {pp: b for b, _, pp in _IRREG}
_BASE_PAST = {b: p for b, p, _ in _IRREG}
_PAST_BASE["lay"] = "lie"  # "lay" the past of lie; "laid" the past of lay

_REGULAR_VERBS = _set(
    "convert absorb release emit transform consume transport regulate detect compute process "
    "generate execute parse render depend outperform replace measure exceed reach retrieve "
    "accept achieve acquire act add admire admit adopt advise affect agree aim allow announce "
    "answer appear apply appoint approve argue arrange arrive ask assist attach attack attempt "
    "attend attract avoid award bake base believe belong block boil book border borrow brew call "
    "campaign care carry cause celebrate change charge chair check claim clean clear climb close "
    "coach collect combine command commemorate compare compete complete compose connect consider "
    "consist contain continue contribute control cook coordinate copy count cover create cross "
    "cure damage dance decide declare decorate defend define deliver demolish depend describe "
    "design destroy develop die direct discover discuss display divide document donate draft "
    "drop earn edit educate employ enable encourage end enjoy enter equip establish estimate "
    "examine exhibit exist expand expect explain explore export express extend face fail favour "
    "feature fill film finance finish fit fix flood flow follow form found fund gain gather "
    "govern graduate grant guard guide handle happen head help hire honour honor host house hunt "
    "identify illustrate import improve include increase inspire install intend introduce "
    "invent invest invite involve join judge jump kill land last launch learn license like limit "
    "link list listen live load locate look love maintain manage manufacture mark marry match "
    "measure mention miss mix move name need note notice obtain occupy occur offer open operate "
    "order organise organize overlook own paint pass perform photograph pick place plan plant "
    "play please point possess post pour power practise practice prefer prepare present preserve "
    "prevent print produce program promote protect prove provide publish pull purchase push "
    "qualify race raise reach receive recommend record recover reduce refer reflect refuse "
    "register reject relate release relocate rely remain remember remove rename renovate rent "
    "reopen repair replace report represent require rescue research reside resign respond rest "
    "restore retire return reveal review rule sail save score sculpt search seem select serve "
    "settle share ship sign smile solve span specialise specialize sponsor start stay stock stop "
    "store stretch study succeed suffer suggest supply support suppose survive switch talk test "
    "thank touch tour trade train transfer translate travel treat try turn type unite use value "
    "visit vote wait walk want wash watch weigh welcome wish work worry emigrate immigrate "
    "collapse close donate marry divorce adopt inaugurate oversee headquarter situate chart map "
    "paint compose direct star narrate catalogue catalog digitise digitize archive curate lead "
    "mentor tutor coach host sell run hold win lose teach build write found make cost take "
    "download upload install uninstall update upgrade configure load save delete create click "
    "press choose restart reboot deploy compile sync print scan backup bake cook boil fry mix "
    "stir serve pour knead rise employ sink capsize anchor dock moor launch wreck salvage "
    "begin grow keep bring give leave meet see send spend stand tell think wear draw drive hide"
)
_VERB_BASES = _REGULAR_VERBS | frozenset(_BASE_PAST)
_ED_NOT_VERB = _set(
    "bed red shed hundred need seed feed speed greed indeed breed bleed sacred kindred naked "
    "wicked rugged ragged beloved aged talented skilled bred wed fled led fed sled weed heed "
    "deed creed tweed reed steed embed embed bed sled shred cred med ed ted ned fred"
)
_ED_ADJECTIVES = _set("interested excited tired bored pleased surprised worried qualified "
                      "experienced")
_DOUBLE_L_DROP = _set(
    "control travel cancel label model level compel propel expel patrol enrol fuel signal total "
    "channel counsel excel rebel repel marshal pedal dial duel equal quarrel rival shovel tunnel "
    "unravel initial annul distil instil fulfil"
)
_E_STEMS = _set(
    "unit invit cit ignit excit recit incit complet delet compet stor scor ignor explor ador bor "
    "snor implor deplor restor interfer persever adher scal exhal inhal impal regal bath breath "
    "cloth loath seeth sooth bequeath sheath writh phon ton clon aton hon zon postpon enthron "
    "condon dron determin examin imagin combin defin refin lin din min shin tun prun commun "
    "creat recreat rout welcom"
)
_NO_E_STEMS = _set(
    "develop envelop gallop wallop gossip worship kidnap handicap focus bias canvas pivot pilot "
    "ballot visit edit credit limit deposit audit merit prohibit inherit exhibit"
)


# Verb forms -----------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _ed_base(word: str) -> str | None:
    """The base of a past form or participle ("designed" -> "design"), None if not one."""
    w = word.lower()
    if w in _PAST_BASE:
        return _PAST_BASE[w]
    if w in _PART_BASE:
        return _PART_BASE[w]
    if not w.endswith("ed") or len(w) < 4 or w in _ED_NOT_VERB or not w.isalpha():
        return None
    if w.endswith("ied"):
        return w[:-1] if len(w) == 4 else w[:-3] + "y"  # died, studied
    if w.endswith("eed"):
        return w[:-1]  # agreed, freed
    stem = w[:-2]
    if len(stem) >= 3 and stem[-1] == stem[-2]:
        if stem[-1] == "l":
            return stem[:-1] if stem[:-1] in _DOUBLE_L_DROP else stem
        if stem[-1] in "sfz" or stem in ("add", "err", "ebb", "egg", "purr"):
            return stem
        return stem[:-1]  # planned, admitted, occurred
    return stem + "e" if _needs_e(stem) else stem


def _needs_e(stem: str) -> bool:
    """Whether the base of stem+"ed" ends in a silent e ("created", not "visited")."""
    if any(stem.endswith(s) for s in _NO_E_STEMS):
        return False
    if any(stem.endswith(s) for s in _E_STEMS):
        return True
    stem = stem.replace("qu", "qw")  # the u of "quoted", "required" is a consonant
    vowels = "aeiou"
    last, before = stem[-1], stem[-2] if len(stem) > 1 else ""
    third = stem[-3] if len(stem) > 2 else ""
    if last in "vzu" or last == "c":
        return True
    if last == "s":
        return not stem.endswith("ss")
    if last == "g":
        return before in "dlr" or (before == "n" and third in "ae")
    if last == "l":
        return before not in vowels or (before in "iou" and third not in vowels and third != "")
    if stem.endswith("at"):
        return not stem.endswith(("eat", "oat"))
    if stem.endswith("ot"):
        return third not in vowels and not stem.endswith("iot")
    if stem.endswith("ut"):
        return not stem.endswith("out")
    if last == "d":
        return before in vowels and (third not in vowels or stem.endswith(("uid", "uad")))
    if last in "kmpb":
        return before in vowels and third not in vowels and third != ""
    if last == "r":
        return (before in "aiu" and third not in vowels and third != "")
    if stem.endswith("un") or (stem.endswith("an") and third not in vowels):
        return True
    return False


@lru_cache(maxsize=8192)
def _s_base(word: str) -> str | None:
    """The base of a present third-person form ("lives" -> "live"), None if not a known verb."""
    w = word.lower()
    if w == "has":
        return "have"
    if w == "does":
        return "do"
    if not w.endswith("s") or len(w) < 3 or w.endswith("ss"):
        return None
    candidates = []
    if w.endswith("ies") and len(w) > 4:
        candidates.append(w[:-3] + "y")
    if w.endswith("es"):
        candidates.append(w[:-2])
    candidates.append(w[:-1])
    for c in candidates:
        if c in _VERB_BASES:
            return c
    return None


def _guess_s_base(word: str) -> str | None:
    """The base of an -s form of a verb not in the lexicon ("converts" -> "convert"), for a
    word that follows a name and so is likely a verb."""
    w = word.lower()
    if not w.isalpha() or len(w) < 4 or not w.endswith("s") or w.endswith(("ss", "us", "is",
                                                                            "ous")):
        return None
    if w.endswith("ies"):
        return w[:-3] + "y"
    if re.search(r"(?:ch|sh|x|z|ss)es$", w):
        return w[:-2]
    return w[:-1]


def _past(base: str) -> str:
    if base in _BASE_PAST:
        return _BASE_PAST[base]
    return _suffixed(base, "ed")


def _third(base: str) -> str:
    if base == "have":
        return "has"
    if base == "be":
        return "is"
    if base.endswith(("s", "sh", "ch", "x", "z", "o")):
        return base + "es"
    if base.endswith("y") and len(base) > 2 and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _suffixed(base: str, suffix: str) -> str:
    if base.endswith("e"):
        return base + suffix[1:]
    if base.endswith("y") and len(base) > 2 and base[-2] not in "aeiou":
        return base[:-1] + "i" + suffix
    if (len(base) >= 3 and base[-1] in "bdgmnprt" and base[-2] in "aeiou"
            and base[-3] not in "aeiou" and len(base) <= 4):
        return base + base[-1] + suffix  # plan -> planned (short words only: "visit" stays)
    return base + suffix


# Tokens ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"[$€£]?\d+(?:[.,:/]\d+)*(?:%|st|nd|rd|th|s)?(?:-[^\W\d_]+)*"
    r"|(?:[^\W\d_]\.){2,}"
    r"|[^\W\d_](?:[\w&]|['’\-](?=[^\W_])(?!s\b))*"
    r"|['’]s\b"
    r"|\S"
)


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int
    end: int

    @property
    def low(self) -> str:
        return self.text.lower()

    @property
    def cap(self) -> bool:
        return self.text[:1].isupper()

    @property
    def word(self) -> bool:
        return self.text[:1].isalpha()


def _tokens(text: str) -> list[_Tok]:
    return list(_tokens_cached(text))


@lru_cache(maxsize=4096)
def _tokens_cached(text: str) -> tuple[_Tok, ...]:
    return tuple(_Tok(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text))


def _span(text: str, toks: Sequence[_Tok]) -> str:
    return text[toks[0].start:toks[-1].end] if toks else ""


def _is_number(tok: str) -> bool:
    return bool(re.fullmatch(r"[$€£]?\d+(?:[.,]\d+)*%?", tok)) or tok.lower() in _NUMBER_WORDS


def _norm_space(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([,.;:?!])", r"\1", text)


def _cap_first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


# Units: sentences, list items, records, headings ----------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•▪‣–+]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+(?P<body>\S.*)$")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<title>\S.*?)\s*#*\s*$")
_KV = re.compile(r"^(?P<key>[^\s:;|][^:;|]{0,48}?)\s*:\s+(?P<value>\S.*?)\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_KEY_VERBS = _set("is are was were has have had will can the a an this that")


@dataclass(frozen=True)
class _Unit:
    kind: str  # "heading" | "sentence" | "item" | "record"
    text: str  # as written in the chunk
    context: str  # the heading path in force ("" when none)
    lead: str = ""  # items: the sentence ending in ":" that introduces their list
    fields: tuple[tuple[str, str], ...] = ()  # records: (key, value) in order


def sentences(text: str, headings: bool = True) -> list[str]:
    """The units of `text` in order: sentences, list items, "key: value" records and heading
    lines (unless `headings` is false), each its own unit. Abbreviations (Dr., e.g., U.S.),
    initials (J. R.) and decimals do not end a sentence."""
    return [u.text for u in _units(text, None) if headings or u.kind != "heading"]


def _split_sentences(paragraph: str) -> list[str]:
    return split_sentences(" ".join(paragraph.split()))


def _record_fields(line: str) -> tuple[tuple[str, str], ...] | None:
    """("Name", "Ada"), ("City", "London") for "Name: Ada; City: London"; None for prose."""
    parts = [p.strip() for p in line.split("; ")] if "; " in line else [line.strip()]
    out = []
    for part in parts:
        m = _KV.match(part)
        if not m:
            return None
        key, value = m["key"].strip(), m["value"].strip()
        if value.startswith(("#", "//")):
            return None
        words = key.split()
        if len(words) > 4 or any(w.lower() in _KEY_VERBS for w in words):
            return None
        if key[-1] in ".!?,":
            return None
        out.append((key, value))
    if len(out) == 1:
        key, value = out[0]
        json_path = bool(re.fullmatch(r"[\w\[\]\".$-]+(?:\.[\w\[\]\".$-]+)+|\[\d+\][\w\[\]\".-]*",
                                      key))
        if not json_path and ((len(value.split()) >= 5 and value[-1] in ".!?")
                              or len(value.split()) > 10 or not re.fullmatch(r"[\w .'-]+", key)):
            return None  # "Note: the bridge closes at night." is a sentence
    return tuple(out)


def _table_cells(line: str) -> list[str] | None:
    s = line.strip()
    if s.count("|") < 1 or not (s.startswith("|") or " | " in s):
        return None
    return [c.strip() for c in s.strip("|").split("|")]


def _is_heading_line(line: str, more: bool) -> bool:
    s = line.strip()
    if _MD_HEADING.match(s):
        return True
    if not more or not s or s[-1] in ".!?:;,\"'”)" or _BULLET.match(s):
        return False
    if _record_fields(s) is not None or _table_cells(s) is not None:
        return False
    if " > " in s:
        return True
    words = s.split()
    if len(words) > 10 or not (s[0].isupper() or s[0].isdigit()):
        return False
    capital = sum(1 for w in words if w[:1].isupper() or w[:1].isdigit())
    return len(words) <= 5 or capital * 10 >= len(words) * 6


def _join_context(context: str | None, heading: str) -> str:
    context = (context or "").strip()
    if not heading:
        return context
    if not context or context == heading or heading.startswith(context):
        return heading
    if context.endswith(heading) or heading in context:
        return context
    return f"{context} > {heading}"


class _Reader:
    """Cuts a chunk into units, line by line, keeping the heading path in force."""

    def __init__(self, context: str | None):
        self.context = context
        self.units: list[_Unit] = []
        self.heading = ""  # the heading in force
        self.outer = ""  # the heading outside a titled list
        self.lead = ""  # a sentence ending in ":" that the next items belong to
        self.paragraph: list[str] = []
        self.table: list[tuple[list[str], str]] = []
        self.code = False  # the chunk is source code: no records in it

    @property
    def ctx(self) -> str:
        return _join_context(self.context, self.heading)

    def set_heading(self, heading: str, line: str) -> None:
        self.flush()
        self.heading = heading
        self.units.append(_Unit("heading", line, self.ctx))
        self.lead = ""

    def flush(self) -> None:
        if self.paragraph:
            for s in _split_sentences(" ".join(self.paragraph)):
                self.units.append(_Unit("sentence", s, self.ctx))
                self.lead = s if s.endswith(":") else ""
            self.paragraph.clear()
        if self.table:
            header = self.table[0][0]
            if (len(self.table) > 1 and all(header) and len(set(header)) == len(header)
                    and not any(_is_number(c) for c in header)):
                for row, line in self.table[1:]:
                    fields_ = tuple((header[i] if i < len(header) else f"column {i + 1}", v)
                                    for i, v in enumerate(row) if v)
                    if fields_:
                        self.units.append(_Unit("record", line, self.ctx, fields=fields_))
            else:
                self.units.extend(_Unit("item", line, self.ctx) for _, line in self.table)
            self.table.clear()

    def block(self, raw: list[str], more: bool, first: bool = False) -> None:
        lines = [ln.strip() for ln in raw]
        # A text's short first line over more lines is its title, capitalised or not (a
        # chunk begins with its heading path; "tidyclip" is a project's name).
        titled = (first and len(lines) > 1 and len(lines[0].split()) <= 5
                  and lines[0][-1] not in ".!?:;,\"'”)" and not _BULLET.match(lines[0])
                  and _record_fields(lines[0]) is None and _table_cells(lines[0]) is None)
        if lines and (titled or _is_heading_line(lines[0], more)):
            md = _MD_HEADING.match(lines[0])
            self.set_heading(md["title"] if md else lines[0], lines[0])
            lines = lines[1:]
        self.outer = self.heading  # a title line over a list names that list only
        offset = len(raw) - len(lines)
        for li, line in enumerate(lines):
            if self.code:  # source code: only its comments and docstrings are prose
                line = re.sub(r'^(?:#+|//+|/?\*+|"""|\'\'\')\s*|\s*(?:"""|\'\'\'|\*/)$', "", line)
                if not _prose_line(line):
                    self.flush()
                    continue
                self.paragraph.append(line)
                continue
            bullet = _BULLET.match(line)
            last = self.units[-1] if self.units else None
            if (not bullet and not self.paragraph and not self.table and last is not None
                    and last.kind == "item" and li > 0 and (
                        raw[li + offset][:1].isspace() or line[:1].islower())):
                # an item wrapped onto the next line
                self.units[-1] = _Unit("item", f"{last.text} {line}", last.context, last.lead)
                continue
            if (li + 1 < len(lines) and _BULLET.match(lines[li + 1]) and not bullet
                    and " > " not in line and _is_heading_line(line, True)):
                self.set_heading(f"{self.outer} > {line}" if self.outer else line, line)
                continue
            if self.heading != self.outer and not bullet:
                self.flush()
                self.heading = self.outer
            cells = _table_cells(line)
            if _TABLE_RULE.match(line):
                continue
            if cells is not None and len(cells) > 1:
                if self.paragraph:
                    self.flush()
                self.table.append((cells, line))
                continue
            if self.table:
                self.flush()
            md = _MD_HEADING.match(line)
            # an indented "name: type" is code, not a record
            record = None if raw[li + offset][:1].isspace() or self.code else _record_fields(line)
            if md:
                self.set_heading(md["title"], line)
                self.outer = self.heading
            elif bullet:
                self.flush()
                rec = _record_fields(bullet["body"])
                if rec is not None and len(rec) > 1:
                    self.units.append(_Unit("record", line, self.ctx, fields=rec))
                else:
                    self.units.append(_Unit("item", line, self.ctx, self.lead))
            elif record is not None:
                self.flush()
                self.units.append(_Unit("record", line, self.ctx, fields=record))
            else:
                self.paragraph.append(line)
        self.flush()
        self.heading = self.outer


_FENCED = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*\1[^\n]*$", re.M | re.S)
_QUOTED = re.compile(r"^[ \t]*(?:>[ \t]?)+(?!>)", re.M)


@lru_cache(maxsize=256)
def _units_cached(text: str, context: str | None) -> tuple[_Unit, ...]:
    reader = _Reader(context)
    # A fenced block in Markdown is code whatever else the page is: it is no prose, and it
    # must not make the page around it look like source code (a README lost every line).
    text = _FENCED.sub("", text)
    text = _QUOTED.sub("", text)  # an e-mail's quoted reply, a Markdown blockquote: its words
    blocks = [b for b in re.split(r"\n[ \t]*\n", text.strip()) if b.strip()]
    # Headings are no evidence either way: a chunk's heading path ("tidyclip > Usage") has the
    # ">" of code, and a README's four sections made its prose look like source.
    lines = [ln for bi, b in enumerate(blocks)
             for li, ln in enumerate(ln for ln in b.split("\n") if ln.strip())
             if not _MD_HEADING.match(ln)
             and not (li == 0 and _is_heading_line(ln.strip(), bi < len(blocks) - 1))]
    code = sum(1 for ln in lines if (_CODE_LINE.match(ln) or _code_like(ln))
               and _record_fields(ln.strip()) is None)
    reader.code = bool(lines) and code * 10 >= len(lines) * 4
    for bi, block in enumerate(blocks):
        lines = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
        reader.block(lines, len(lines) > 1 or bi < len(blocks) - 1, first=bi == 0)
    units: list[_Unit] = []
    for unit in reader.units:  # an item of several sentences: the first is the item
        parts = _split_sentences(unit.text) if unit.kind == "item" else [unit.text]
        units.append(_Unit(unit.kind, parts[0], unit.context, unit.lead, unit.fields))
        units.extend(_Unit("sentence", part, unit.context) for part in parts[1:])
    return tuple(units)


def _units(text: str, context: str | None) -> list[_Unit]:
    return list(_units_cached(text, context))


def _item_body(unit: _Unit) -> str:
    m = _BULLET.match(unit.text)
    return m["body"] if m else unit.text



# Names ----------------------------------------------------------------------------------------

_MONTH_RE = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
             r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)")
_WEEKDAY_RE = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)s?"
_YEAR_RE = r"(?:1[0-9]{3}|20[0-9]{2})"
_DAY_RE = r"\d{1,2}(?:st|nd|rd|th)?"
_CORE_DATE = (rf"(?:(?:{_DAY_RE}\s+)?{_MONTH_RE}\.?(?:\s+{_DAY_RE})?(?:,?\s+{_YEAR_RE})?"
              rf"|{_YEAR_RE}s?|\d{{1,2}}(?:st|nd|rd|th)\s+century|{_WEEKDAY_RE})")
_DATE_RE = re.compile(rf"\b{_CORE_DATE}\b(?![.,]?\d)")
_DATE_NP = re.compile(
    rf"^(?:the\s+)?(?:(?:early|late|mid|spring|summer|autumn|fall|winter|end|start|beginning|"
    rf"middle)(?:\s+of)?(?:\s+the)?[\s-]+)?{_CORE_DATE}"
    rf"(?:\s+(?:and|to|or|until)\s+{_CORE_DATE})?$"
)
_CONNECTORS = _set("of de van von der den da du la le del di y the")
_ORDINALS = _set("first second third fourth fifth last next only main other same")
_EVALUATIVE = _set(
    "good great nice beautiful famous popular small large big old new young little major main "
    "important well-known local long short tiny huge busy quiet fine lovely wonderful "
    "successful leading renowned noted"
)


def _key(name: str) -> str:
    name = re.sub(r"['’]s?$", "", name.strip())
    name = re.sub(r"^(?:the|a|an)\s+", "", name, flags=re.I)
    words = name.split()
    while len(words) > 2 and (words[0].rstrip(".") in _TITLES or words[0] in _ROYAL):
        words = words[1:]  # "Mayor Lin Oda" is Lin Oda
    return " ".join(w.lower() for w in words)


@dataclass(eq=False)  # a name is itself: hashed and compared by identity
class _Ent:
    name: str
    article: str = ""
    kind: str | None = None  # person | place | org | thing
    type: str | None = None  # "civil engineer", "bridge"
    strength: int = 0  # how sure the type is: 3 said outright, 2 implied, 1 from the name
    gender: str | None = None
    count: int = 0
    subj: int = 0
    first: int = 0

    @property
    def key(self) -> str:
        return _key(self.name)

    def surface(self, start: bool = False) -> str:
        text = f"{self.article} {self.name}" if self.article else self.name
        return _cap_first(text) if start else text

    def possessive(self, start: bool = False) -> str:
        text = self.surface(start)
        return text + ("'" if text.endswith("s") and not text.endswith("ss") else "'s")

    @property
    def personish(self) -> bool:
        if self.kind is not None:
            return self.kind == "person"
        parts = self.name.split()
        return (2 <= len(parts) <= 3 and all(p[:1].isupper() and p.isalpha()
                                             and p not in _FUNCTION_CAPS for p in parts)
                and _name_type(self.name) is None and _name_kind(self.name) is None
                and not self.article)

    @property
    def plural(self) -> bool:
        return self.kind == "org" or (not self.personish and self.name.endswith("s")
                                      and not self.name.endswith("ss"))

    def set_type(self, type_: str, strength: int) -> None:
        if strength <= self.strength:
            return
        self.type, self.strength = type_, strength
        kind = _type_kind(type_.split()[-1])
        if kind is not None and (self.kind is None or (
                strength >= 3 and _name_kind(self.name) is None)):
            self.kind = kind  # "Brightline Ltd, the vendor" stays a company


def _type_kind(head: str) -> str | None:
    if head in _ROLE_NOUNS or head.endswith(("ist", "ian", "eer", "keeper", "maker", "smith",
                                             "wright", "woman", "man")) and head not in (
            "human", "german", "roman", "woman"):
        return "person"
    if head in _PLACE_TYPES:
        return "place"
    if head in _ORG_TYPES:
        return "org"
    return None


def _head_word(parts: Sequence[str]) -> str:
    """The head of a name: its last word, or the word before "of" ("Institute of Bridges")."""
    return parts[parts.index("of", 1) - 1] if "of" in parts[1:-1] else parts[-1]


def _name_kind(name: str) -> str | None:
    parts = name.split()
    first, last = parts[0].rstrip("."), _head_word(parts)
    if first in _TITLES or (first in _ROYAL and len(parts) > 1):
        return "person"
    if last in _ORG_HEADS:
        return "org"
    if last in _PLACE_HEADS or (first in _PLACE_PREFIXES and len(parts) > 1):
        return "place"
    if last in _THING_HEADS:
        return "thing"
    return None


def _name_type(name: str) -> str | None:
    parts = name.split()
    last = _head_word(parts)
    if last in _ORG_HEADS:
        return _ORG_HEADS[last]
    if last in _PLACE_HEADS or last in _THING_HEADS:
        return last.lower()
    return {"Mount": "mountain", "Mt": "mountain", "Lake": "lake", "Fort": "fort",
            "Cape": "cape", "Isle": "island"}.get(parts[0]) if len(parts) > 1 else None


class _Names:
    """The names of one chunk (or of several, for cross-document questions)."""

    def __init__(self) -> None:
        self.by_key: dict[str, _Ent] = {}
        self.alias: dict[str, str | None] = {}
        self.order = 0

    def add(self, name: str, article: str = "") -> _Ent:
        key = _key(name)
        ent = self.by_key.get(key) or self.by_key.get(self.alias.get(key) or "")
        if ent is None:
            ent = _Ent(name, article, _name_kind(name), first=self.order)
            self.order += 1
            type_ = _name_type(name)
            if type_:
                ent.set_type(type_, 1)
                if ent.kind is None:
                    ent.kind = _name_kind(name)
            self.by_key[key] = ent
            parts = [p for p in name.split() if p.rstrip(".") not in _TITLES
                     and p not in _ROYAL and not re.fullmatch(r"[IVX]+|[A-Z]\.?", p)]
            if parts and all(p[:1].isupper() for p in parts) and ent.personish:
                for part in (parts[0], parts[-1]):
                    k = part.lower()
                    if k in self.by_key:
                        continue
                    self.alias[k] = None if k in self.alias and self.alias[k] != key else key
        elif article and not ent.article and ent.name == name:
            ent.article = article
        return ent

    def get(self, text: str) -> _Ent | None:
        key = _key(text)
        return self.by_key.get(key) or self.by_key.get(self.alias.get(key) or "")

    def all(self) -> list[_Ent]:
        return list(self.by_key.values())


def _known_caps(texts: Iterable[str]) -> set[str]:
    """Words written capitalised somewhere other than at the start of a sentence."""
    caps: set[str] = set()
    for text in texts:
        toks = _tokens(text)
        for i, t in enumerate(toks):
            if i and t.word and t.cap and toks[i - 1].text not in ".!?:\"“‘('-•*":
                caps.add(t.text)
    return caps


_TYPED_START = re.compile(
    r"^(?:\W*)(?P<word>[A-Z][a-z][\w'-]*)\s+(?:is|was)\s+(?:an?|the|one of the)\s+"
    r"(?:[a-z-]+\s+){0,3}?(?P<head>[a-z]+)\b")


def _start_names(texts: Iterable[str], contexts: Iterable[str]) -> set[str]:
    """Single words that open a sentence and are names all the same: the heading's own name
    ("Kilbrae" under "# Kilbrae"), a word the sentence types as a place or an organisation
    ("Kilbrae is a harbour town"), or a part of a person's full name ("Alric" of "Alric
    Dunmore")."""
    out: set[str] = set()
    texts = list(texts)
    for text in texts:
        for m in re.finditer(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+){1,2}\b", text):
            name = m.group()
            parts = name.split()
            if _name_kind(name) is None and _name_type(name) is None and not any(
                    p in _FUNCTION_CAPS or p in _MONTHS or p in _WEEKDAYS or p in _TITLES
                    or p in _ROYAL for p in parts):
                out.update(p for p in (parts[0], parts[-1]) if not _common(p))
    for context in contexts:
        for part in context.split(" > "):
            word = part.strip()
            if re.fullmatch(r"[A-Z][a-z][\w'-]*", word) and word not in _FUNCTION_CAPS \
                    and not _common(word):
                out.add(word)
    for text in texts:
        typed = _TYPED_START.match(text)
        if typed and (typed["head"] in _PLACE_TYPES or typed["head"] in _ORG_TYPES) and \
                typed["word"] not in _FUNCTION_CAPS and not _common(typed["word"]):
            out.add(typed["word"])
    return out


def _name_runs(toks: Sequence[_Tok], known: set[str]) -> list[tuple[int, int, str]]:
    """(first token, end token, article) of each name in a sentence's tokens."""
    runs: list[tuple[int, int, str]] = []
    n, i = len(toks), 0
    code = False  # inside `backticks`: code, not names
    while i < n:
        t = toks[i]
        if t.text == "`":
            code = not code
        if code or not (t.word and t.cap) or t.text in ("True", "False", "None"):
            i += 1
            continue
        j = i
        while j < n:
            tj = toks[j]
            if tj.word and tj.cap:
                j += 1
                if (j + 1 < n and toks[j].text == "." and toks[j + 1].word and toks[j + 1].cap
                        and (toks[j - 1].text in _TITLES or len(toks[j - 1].text) == 1)):
                    j += 1  # Dr. J. R. Osric
                continue
            if (j > i and j + 1 < n and (tj.text in _CONNECTORS or tj.text == "&")
                    and toks[j + 1].word and toks[j + 1].cap):
                j += 1
                continue
            break
        start, end = i, j
        i = j
        while start < end and (toks[start].text in _FUNCTION_CAPS or toks[start].text == "I"):
            start += 1
        if (start == 0 and end - start > 1 and toks[0].low in _VERB_BASES
                and not (end < n and _verb_at(toks, end))):
            start += 1  # "Install Python 3.11": an instruction, not a name
        while end > start and (toks[end - 1].text in _CONNECTORS or toks[end - 1].text == "."):
            end -= 1
        if start >= end:
            continue
        words = [t.text for t in toks[start:end] if t.word]
        if all(w in _MONTHS or w in _WEEKDAYS for w in words):
            continue
        if words[0] in _MONTHS and end < n and toks[end].text[:1].isdigit():
            continue
        if words[0] in _MONTHS and start > 0 and toks[start - 1].text[:1].isdigit():
            continue
        if len(words) == 1 and (words[0] in _TITLES or len(words[0]) == 1):
            continue
        if (len(words) == 1 and len(words[0]) > 5 and words[0].endswith(("ish", "ese", "ian"))
                and end < n and toks[end].word and not toks[end].cap):
            continue  # "a British aviator": an adjective
        if end - start == 1 and start > 0 and toks[start - 1].text[:1].isdigit():
            continue  # "300 MB", "8 GPUs": a unit or a count, not a name
        at_start = start == 0 or (toks[start - 1].text in _FUNCTION_CAPS and start == 1)
        if (at_start and end - start == 1 and toks[start].text not in known
                and not (end < n and toks[end].text in ("'s", "’s"))):
            continue
        article = ""
        if start > 0 and toks[start - 1].low == "the":
            article = "the"
        runs.append((start, end, article))
    return runs


def entities(text: str) -> list[str]:
    """Names (people, places, organisations, things) and dates in `text`, the most salient
    first: mentioned most, as a subject most, then earliest."""
    units = [u for u in _units(text, None) if u.kind != "heading"]
    analysis = _analyse_chunk(text, None)
    scored = sorted(
        (e for e in analysis.names.all() if e.count),
        key=lambda e: (-(e.count + e.subj), e.first),
    )
    out = [e.name for e in scored]
    seen = {o.lower() for o in out}
    for u in units:
        for m in _DATE_RE.finditer(u.text):
            if m.group().lower() not in seen:
                seen.add(m.group().lower())
                out.append(m.group())
    return out


def _pattern_types(texts: Sequence[str], names: _Names) -> None:
    """Kinds and types of names from how the text speaks of them: "X is a civil engineer",
    "X, a software company,", "engineer X", "X was born", "X's sister"."""
    ents = names.all()
    if not ents:
        return
    joined = "\n".join(texts)
    alt = "|".join(re.escape(e.name) for e in sorted(ents, key=lambda e: -len(e.name)))
    n = rf"(?P<name>{alt})"  # one pattern for all names: compiling one per name is slow
    rels = "|".join(sorted(_RELATION_NOUNS))
    stop = (r"(?=\s+(?:of|in|at|from|for|who|that|which|with|on|and|by|near|since|based|born|"
            r"located|whose|to|than)\b|\s*[,.;:]|\s*$)")

    def found(pattern: str) -> Iterable[tuple[_Ent, re.Match[str]]]:
        for m in re.finditer(pattern, joined):
            ent = names.get(m["name"])
            if ent is not None:
                yield ent, m

    described: set[int] = set()
    for ent, m in found(
            rf"\b{n}(?:,)?\s+(?:is|was|became|remains|has been)\s+(?P<det>an?|the|one of the)\s+"
            rf"(?P<np>[A-Za-z][a-z\-]*(?:\s+[a-z][a-z\-]*){{0,3}}?){stop}"):
        described.add(id(ent))
        type_ = _type_phrase(m["np"], plural=m["det"] == "one of the")
        if type_:
            ent.set_type(type_, 3 if m["det"] != "the" else 1)
    for ent, m in found(
            rf"\b{n},\s+(?P<det>an?|the)\s+(?P<np>[a-z][a-z\-]*(?:\s+[a-z][a-z\-]*){{0,3}}?)"
            rf"(?=\s+(?:of|in|at|from|for|who|that|which|with|on|by|near|based|born|located)\b"
            rf"|\s+[a-z]+ed\b|\s*,)"):
        type_ = _type_phrase(m["np"])
        if type_:
            ent.set_type(type_, 3)
    for ent, m in found(rf"\b(?P<role>[a-z]+)\s+{n}\b"):
        if m["role"] in _RELATION_NOUNS:
            ent.kind = "person"
        elif m["role"] in _ROLE_NOUNS:
            ent.set_type(m["role"], 2)
    for ent, _ in found(rf"\b{n}(?:\s+(?:was|were)\s+born\b|['’]s\s+(?:{rels})\b)"):
        ent.kind = "person"
    # "Her autobiography, Wings Over Water, was ...": the noun before the name types it
    for ent, m in found(rf"\b(?:[Tt]he|[Hh]is|[Hh]er|[Ii]ts|[Tt]heir|\w+['’]s?)\s+"
                        rf"(?P<np>[a-z][a-z-]*(?:\s+[a-z][a-z-]*)?),\s+(?:the\s+)?{n},"):
        type_ = _type_phrase(m["np"])
        if type_:
            ent.set_type(type_, 3)
    # "on Gull Rock", "in Saltmere": where people are not
    for ent, _ in found(rf"\b(?:in|at|near|on|across|around|(?:moved|moves|relocated|emigrated|"
                        rf"returned|travelled|traveled|sailed)\s+(?:back\s+)?to)\s+(?:the\s+)?"
                        rf"{n}\b(?!['’])"):
        if ent.kind is None and id(ent) not in described:
            ent.kind = "place"


def _type_phrase(np: str, plural: bool = False) -> str | None:
    words = np.split()
    if words and words[-1].lower() in _RELATION_NOUNS:
        return None  # "sister" says who someone is to another, not what they are
    if not words or any(w.lower() in _STOPWORDS or w.lower() in _NUMBER_WORDS for w in words):
        return None
    head = words[-1]
    if plural and head.endswith("s"):
        head = head[:-1]
    if _ed_base(head) or head.endswith("ing") or head.endswith("ly"):
        return None
    if not head.isalpha() or not head.islower():
        return None
    mods = [w for w in words[:-1] if w not in _EVALUATIVE and w.islower()
            and not w.endswith("est") and w not in _ORDINALS][-1:]
    return " ".join([*mods, head])


# Pronouns -------------------------------------------------------------------------------------

_COPULAR = _set("be been being become became becomes remain remained remains")
_PLACE_ANAPHORS = _set("city town village port island country capital region")


def _first_verb(toks: Sequence[_Tok]) -> int:
    """Index of the first token that looks like a finite verb (len(toks) when none)."""
    for i, t in enumerate(toks):
        if i == 0 or not t.word or t.cap:
            continue
        low = t.low
        if low in _BE or low in _HAVE or low in _DO or low in _MODALS:
            return i
        if toks[i - 1].low in _DETERMINERS:
            continue
        if _ed_base(low) and low not in _ED_ADJECTIVES | {"born"}:
            return i
        if _s_base(low):
            return i
    return len(toks)


@dataclass
class _Mention:
    ent: _Ent
    start: int  # token index
    end: int


class _Resolver:
    """Walks a chunk's sentences in order, replacing pronouns and "the company"-like phrases by
    the name they stand for; leaves them alone when two readings are equally likely."""

    def __init__(self, names: _Names, known: set[str], seed: _Ent | None,
                 persons_only: bool = False):
        self.names, self.known, self.seed = names, known, seed
        self.persons_only = persons_only
        self.reset(seed)

    def reset(self, seed: _Ent | None) -> None:
        self.seed = seed
        self.recent: list[list[_Ent]] = []  # mentions per earlier sentence, latest last
        self.core: list[list[_Ent]] = []  # the same, without names inside a prepositional phrase
        self.last_subject: _Ent | None = None

    def _mentions(self, toks: Sequence[_Tok], text: str) -> list[_Mention]:
        out = []
        for start, end, _ in _name_runs(toks, self.known):
            ent = self.names.get(_span(text, toks[start:end]))
            if ent is not None:
                out.append(_Mention(ent, start, end))
        return out

    def resolve(self, text: str) -> tuple[str, _Ent | None, list[_Ent]]:
        """(resolved text, its subject, the names it mentions)."""
        text = _uncontract(text)
        toks = _tokens(text)
        mentions = self._mentions(toks, text)
        inside = {i for m in mentions for i in range(m.start, m.end)}
        verb = _first_verb(toks)
        head = next((m for m in mentions if m.start < verb and not _in_phrase(toks, m.start)),
                    None)
        subject = head.ent if head is not None else None
        subject_at = head.start if head is not None else len(toks)
        edits: list[tuple[int, int, str, _Ent]] = []  # token range replaced, text, name
        for m in mentions:  # "Hart" -> "Amelia Hart": a short name said in full
            said = _span(text, toks[m.start:m.end])
            if m.end - m.start == 1 and m.ent.personish and len(m.ent.name.split()) > 1 and \
                    said != m.ent.name and _key(said) != m.ent.key:
                edits.append((m.start, m.end, m.ent.name, m.ent))
        prev = self.core[-1] if self.core else []
        for i, t in enumerate(toks):
            if i in inside or not t.word:
                continue
            low = t.low
            if self.persons_only and low not in _PERSONAL:
                continue
            start = i == 0 or toks[i - 1].text in "\"“(:"
            ent: _Ent | None = None
            possessive = False
            if low in ("he", "she", "him", "his", "her"):
                gender = "f" if low in ("she", "her") else "m"
                possessive = low == "his" or (low == "her" and self._her_possessive(toks, i))
                # "She gave her a map": an object pronoun is not the clause's own subject
                other = subject if i > verb and low in ("him", "her") and not possessive else None
                ent = self._person(mentions, i, gender, other)
                if ent is not None:
                    ent.gender, ent.kind = gender, "person"
            elif low in ("it", "its"):
                if low == "it" and self._expletive(toks, i):
                    continue
                possessive = low == "its"
                clause_start = i > 0 and toks[i - 1].low in (",", "and", "but", ";") and \
                    i + 1 < len(toks) and _verb_at(toks, i + 1)
                if (low == "it" and i > verb and not clause_start and i + 1 < len(toks) and (
                        _verb_at(toks, i + 1) or _guess_s_base(toks[i + 1].low)
                        or toks[i + 1].low.endswith("ed"))):
                    # "questions it had never seen": a clause inside the sentence; only its
                    # subject, if it is the one thing named, is safe
                    others = {m.ent for m in mentions if not m.ent.personish} - {subject}
                    ent = subject if subject is not None and not subject.personish and \
                        not others else None
                else:
                    own = (possessive or clause_start) and subject_at < i
                    before = [m.ent for m in mentions if m.start < i and m.ent is not subject
                              and not m.ent.personish]
                    before += [e[3] for e in edits if e[0] < i and e[3] is not subject
                               and not e[3].personish]
                    unnamed = subject is None and 0 < verb < len(toks) and any(
                        t.word and not t.cap and t.low not in _STOPWORDS for t in toks[:verb])
                    if possessive and i > verb and unnamed:
                        continue  # "A moved file keeps its chunks": the file's, unnamed
                    ent = self._thing(i < verb, own, subject if subject_at < i else None, prev,
                                      before)
            elif low in ("they", "them", "their"):
                ent = self._plural(mentions, i)
                possessive = low == "their"
            elif low in ("this", "it") and i == 0 and len(toks) > 2 and toks[1].low in _BE:
                ent = self._predicated(toks)
                if ent is not None:
                    edits.append((0, 1, ent.surface(True), ent))
                    subject = ent
                continue
            elif low in ("the", "this", "that") and i + 1 < len(toks):
                ent = self._anaphor(toks, i, mentions)
                if ent is not None:
                    edits.append((i, i + 2, ent.surface(start), ent))
                    if i < verb and subject is None:
                        subject = ent
                    continue
                ent = self._owner(toks, i, mentions) if low == "the" else None
                if ent is not None:  # "the town festival": the festival of the town in play
                    edits.append((i, i + 3, f"{_span(text, toks[i:i + 3])} of {ent.surface()}",
                                  ent))
                continue
            if ent is None:
                continue
            edits.append((i, i + 1, ent.possessive(start) if possessive else ent.surface(start),
                          ent))
            if i < verb and subject is None and not possessive:
                subject = ent
        out = text
        for a, b, new, _ in sorted(edits, key=lambda e: -e[0]):
            out = out[:toks[a].start] + new + out[toks[b - 1].end:]
        named = [m.ent for m in mentions] + [e[3] for e in sorted(edits, key=lambda e: e[0])]
        for m in mentions:
            m.ent.count += 1
        if subject is not None:
            subject.subj += 1
        self.recent.append(named)
        # what a later "it" may stand for: this sentence's subject and its direct object
        obj: _Ent | None = None
        j = verb
        while j < len(toks) and (toks[j].low in _BE or toks[j].low in _HAVE or
                                 toks[j].low in _MODALS or toks[j].low in _VG_ADVERBS or j == verb):
            j += 1
        while j < len(toks) and (toks[j].low in _DETERMINERS or toks[j].text in _PARTICLES):
            j += 1
        for m in mentions:
            if m.start == j and not _in_phrase(toks, m.start):
                obj = m.ent
                after = [t.low for t in toks[m.end:m.end + 2]]
                if after[:1] in (["and"], ["or"], [","]) and any(
                        n.start in (m.end + 1, m.end + 2, m.end + 3) for n in mentions):
                    obj = None  # "built the Hollow Bridge and the Salt Mill": which one?
        for a, _, _, e in edits:
            if a == j:
                obj = e
        self.core.append([e for e in (subject, obj) if e is not None])
        self.last_subject = subject
        return out, subject, named

    def _person(self, mentions: list[_Mention], i: int, gender: str,
                other: _Ent | None = None) -> _Ent | None:
        same = [m.ent for m in mentions if m.start < i and m.ent.personish]
        pool: list[_Ent] = []
        if same:
            pool.append(same[0])
        if self.last_subject is not None and self.last_subject.personish:
            pool.append(self.last_subject)
        for sentence in reversed(self.recent[-3:]):
            pool.extend(e for e in sentence if e.personish)
        if self.seed is not None and self.seed.personish:
            pool.append(self.seed)
        # Only when the referent is certain: the one person of that gender in play, or the only
        # person at all. "She shared the prize with her husband Pierre Curie" after a sentence
        # naming him must not become "Pierre Curie shared...": a false fact is worse than none.
        fits = [e for e in dict.fromkeys(pool) if e.gender in (None, gender) and e is not other]
        known = [e for e in fits if e.gender == gender]
        if len(known) == 1:
            return known[0]
        return fits[0] if len(fits) == 1 else None

    def _thing(self, at_subject: bool, own: bool, subject: _Ent | None,
               prev: list[_Ent], before: list[_Ent]) -> _Ent | None:
        """What "it" stands for: "its" and a second clause's "it" are the sentence's subject;
        a subject "it" continues the last sentence's subject; an object "it" is a thing named in
        the last sentence, never the subject of its own clause."""
        here = subject if subject is not None and not subject.personish else None
        if own and here is not None:
            return here
        last = self.last_subject
        if (at_subject or own) and last is not None and not last.personish:
            return last
        if not at_subject and len(set(before)) == 1:
            return before[0]  # "took over the yard and moved it"
        things = [e for e in dict.fromkeys(prev) if not e.personish and e is not here]
        if len(things) == 1:
            return things[0]
        if things:
            return None  # two candidates: leave the pronoun, the sentence is then skipped
        if self.seed is not None and not self.seed.personish and (
                last is None or last is self.seed):
            return self.seed  # the heading's subject, when nothing else is in play
        return None

    def _predicated(self, toks: Sequence[_Tok]) -> _Ent | None:
        """"This is the oldest museum in Vell": the museum being talked about, when the noun
        fits exactly one name in play (the last subject or the heading's)."""
        head = ""
        for j in range(2, min(len(toks), 8)):
            nxt = toks[j + 1] if j + 1 < len(toks) else None
            if toks[j].word and not toks[j].cap and (nxt is None or not nxt.word or nxt.low in
                                                     _PREPS or nxt.low in _CONJ):
                head = toks[j].low
                break
        if not head or head in _STOPWORDS:
            return None
        pool = [e for e in dict.fromkeys([self.last_subject, self.seed]) if e is not None]
        fits = [e for e in pool if _anaphor_fits(head, e)]
        return fits[0] if len(fits) == 1 else None

    def _plural(self, mentions: list[_Mention], i: int) -> _Ent | None:
        same = [m.ent for m in mentions if m.start < i and m.ent.plural]
        if same:
            return same[0]
        last = self.last_subject
        return last if last is not None and last.plural else None

    @staticmethod
    def _her_possessive(toks: Sequence[_Tok], i: int) -> bool:
        if i + 1 >= len(toks):
            return False
        nxt = toks[i + 1]
        return (nxt.word and nxt.low not in _PREPS and nxt.low not in _CONJ
                and nxt.low not in _STOPWORDS and nxt.low not in _DETERMINERS)

    @staticmethod
    def _expletive(toks: Sequence[_Tok], i: int) -> bool:
        following = [t.low for t in toks[i + 1:i + 4]]
        if not following:
            return False
        if following[0] in ("rains", "rained", "snows", "snowed", "seems", "seemed", "appears",
                            "appeared", "takes", "took", "costs", "remains"):
            return True
        return following[0] in ("is", "was") and any(w in _EXPLETIVE_NEXT for w in following[1:])

    def _owner(self, toks: Sequence[_Tok], i: int, mentions: list[_Mention]) -> _Ent | None:
        """"the town festival" (a place noun modifying a noun): the place in play it belongs to,
        when exactly one fits."""
        if i + 2 >= len(toks):
            return None
        mod, noun = toks[i + 1], toks[i + 2]
        after = toks[i + 3] if i + 3 < len(toks) else None
        if mod.low not in _PLACE_ANAPHORS or not noun.word or noun.cap or noun.low in _STOPWORDS \
                or noun.low in _PREPS or _verb_at(toks, i + 2) or noun.low in _PLACE_ANAPHORS:
            return None
        if after is None or not (after.text == "," or after.low in _BE):
            return None  # only a phrase a name or a "be" describes: not "the city council added"
        pool = [m.ent for m in mentions if m.end <= i]
        for sentence in reversed(self.recent[-4:]):
            pool.extend(reversed(sentence))
        if self.seed is not None:
            pool.append(self.seed)
        fits = [e for e in dict.fromkeys(pool) if _anaphor_fits(mod.low, e)]
        return fits[0] if len(fits) == 1 else None

    def _anaphor(self, toks: Sequence[_Tok], i: int, mentions: list[_Mention]) -> _Ent | None:
        noun = toks[i + 1]
        if not noun.word or noun.cap:
            return None
        after = toks[i + 2] if i + 2 < len(toks) else None
        if after is not None and after.word and not after.cap:
            low = after.low
            if not (low in _PREPS or low in _CONJ or low in _BE or low in _HAVE or low in _DO
                    or low in _MODALS or low in _VG_ADVERBS or _s_base(low) or _ed_base(low)
                    or low in ("who", "which", "that")):
                return None  # "the city council": the noun is a modifier
        if after is not None and after.text in ("'s", "’s") and toks[i].low != "the":
            return None
        if (after is not None and after.low == "of") or (i > 0 and (
                toks[i - 1].low in _BE or toks[i - 1].low in _COPULAR)):
            return None  # "the capital of Vell", "is the city": a new description, not a reference
        word = noun.low
        pool = [m.ent for m in mentions if m.end <= i]
        for sentence in reversed(self.recent[-4:]):
            pool.extend(reversed(sentence))
        if self.seed is not None:
            pool.append(self.seed)
        for ent in pool:
            if _anaphor_fits(word, ent):
                if word in _PLACE_ANAPHORS and ent.kind == "place" and ent.strength < 2:
                    ent.set_type(word, 2)
                return ent
        return None


def _in_phrase(toks: Sequence[_Tok], start: int) -> bool:
    """Whether the name at `start` sits in a prepositional phrase ("on this CPU") or only
    modifies a noun ("a LoRA memory"): then it is not what a later "it" stands for."""
    end = start
    while end < len(toks) and toks[end].word and toks[end].cap:
        end += 1
    if end < len(toks) and toks[end].word and not toks[end].cap and toks[end].low not in \
            _STOPWORDS and toks[end].low not in _PREPS and not _verb_at(toks, end):
        return True
    j = start - 1
    while j >= 0 and start - j <= 3 and (toks[j].low in _DETERMINERS or (
            toks[j].word and not toks[j].cap and toks[j].low not in _PREPS
            and toks[j].low not in _STOPWORDS and not _verb_at(toks, j))):
        j -= 1
    return j >= 0 and toks[j].low in _PREPS


def _uncontract(text: str) -> str:
    """"It's open" -> "It is open", "she's been" -> "she has been"."""
    def full(m: re.Match[str]) -> str:
        nxt = m["next"].lower()
        verb = "has" if nxt == "been" or (nxt.endswith("ed") and nxt not in _ED_NOT_VERB) else "is"
        return f"{m['pro']} {verb} {m['next']}"
    return re.sub(r"\b(?P<pro>[Ii]t|[Hh]e|[Ss]he|[Tt]here|[Tt]hat)['’]s\s+(?P<next>\w+)", full,
                  text)


def _anaphor_fits(word: str, ent: _Ent) -> bool:
    if ent.type and (word == ent.type.split()[-1] or word == ent.type or (
            len(word) >= 4 and ent.type.split()[-1].endswith(word))):
        return True
    if word == (_name_type(ent.name) or "") or (
            len(ent.name.split()) > 1 and word == ent.name.split()[-1].lower()):
        return True
    return (word in _PLACE_ANAPHORS and ent.kind == "place"
            and ((ent.type is not None and ent.type.split()[-1] in _PLACE_TYPES
                  and (ent.strength < 3 or ent.type.split()[-1] == word))
                 or (ent.type is None and ent.name.split()[0] in _PLACE_PREFIXES)))


_PERSONAL = frozenset(("he", "she", "him", "his", "her"))


def resolve_pronouns(sentences: list[str], context: str | None = None,
                     persons_only: bool = False) -> list[str]:
    """`sentences` with he/she/it/they/his/her/its/their (and "the company"-like phrases) replaced
    by the most recent compatible name; left as they are when unsure. `persons_only`: only
    he/she/him/his/her, whose referent is a person of that gender ("it" after "tidyclip
    requires Python" is as likely the tool as the language)."""
    names = _Names()
    known = _known_caps(sentences)
    for s in sentences:
        toks = _tokens(s)
        for start, end, article in _name_runs(toks, known):
            names.add(_span(s, toks[start:end]), article)
    _pattern_types(sentences, names)
    resolver = _Resolver(names, known, _seed(names, context), persons_only)
    return [resolver.resolve(s)[0] for s in sentences]


def _seed(names: _Names, context: str | None) -> _Ent | None:
    """The subject the heading names ("People > Mara Quill"), if it is name-like."""
    if not context:
        return None
    last = context.split(" > ")[-1].strip()
    words = last.split()
    if not words or len(words) > 5 or not all(w[:1].isupper() or w in _CONNECTORS for w in words):
        return None
    if words[0] in _FUNCTION_CAPS:
        return None
    ent = names.get(last)
    if ent is None and len(words) < 2 and _name_kind(last) is None:
        return None  # "Notes", "Story": a heading, not a name
    if ent is None:
        ent = names.add(last, "the" if _name_kind(last) in ("thing", "org") and
                        last.split()[-1] not in ("Labs", "Inc", "Ltd") else "")
    return ent


# Clauses --------------------------------------------------------------------------------------

_FRONT_DATE = re.compile(
    rf"^(?P<prep>In|On|During|Since|By|Until|Before|After)\s+(?P<np>(?:the\s+)?{_CORE_DATE})"
    rf"(?:\s*,\s*|\s+(?=[A-Z]))"
)
_FRONT_PP = re.compile(
    r"^(?P<prep>In|On|During|Since|By|Until|Before|After|From|At|Around|Between|Throughout|"
    r"Under|Near|Inside|Outside|Across)\s+(?P<np>[^,]{1,50}?),\s+(?=\S)"
)
_FRONT_ADVERB = re.compile(
    r"^(?:However|Later|Today|Then|Meanwhile|Eventually|Finally|Afterwards|Now|Also|Still|"
    r"Originally|Recently|Currently|Initially|Together|Soon|Since then|In addition|In total|"
    r"In the end|At first|At the time|Over time|By then|Back then|Of course|In fact|Indeed|Thus|"
    r"Therefore|Consequently|As a result|For example|For instance|Moreover|Furthermore|Besides|"
    r"Overall|Fortunately|Unfortunately|Sadly|Luckily|Next|First|Second|Third|Lastly|Years later|"
    r"Soon after|Shortly after|Shortly afterwards|According to [^,]{1,60}|As a rule|"
    r"In general|Every \w+|Each \w+)\s*,\s*|^(?:Every|Each|Last|Next|One|That|This|Later that)\s+"
    r"(?:night|day|morning|evening|afternoon|week|month|year|summer|winter|spring|autumn|time|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\s*,?\s*"
)
_FRONT_CLAUSE = re.compile(
    r"^(?:When|While|After|Before|Although|Though|Because|Since|If|Once|As|Until|Unless|Whereas|"
    r"Whenever)\b[^,]{1,80},\s*"
)
_TRAILING = _set("which who whom whose where when while but although though because so thus "
                 "whereas since as")
_GIVING = _set("give send offer show teach tell lend sell hand pay award grant bring leave owe "
               "promise")
_CLAUSE_LINKS = _set("before after until since because although though while when whereas "
                     "unless once whether if where")
_INTRANSITIVE = _set("open close move die arrive begin start end grow collapse reopen retire "
                     "return live work stay settle emigrate")
_SLOT = "\x00S\x00"
_AddFn = Callable[..., None]  # adds a question: (question, target, kind, hop, ans, name, key)


@dataclass
class _Clause:
    text: str  # as analysed: pronouns resolved, fronted phrases moved to the end
    evidence: str  # the unit as written
    subj: str  # the subject as written in `text`
    ent: _Ent | None  # the name the subject is, if it is one
    form: str  # copula | passive | active | there
    aux: str  # the auxiliary a question inverts ("was", "did", "has")
    rest: str  # the verb group after that auxiliary, for questions ("built", "found")
    vg: str  # the verb group as written, adverbs dropped ("was built", "founded")
    main: str  # base of the main verb ("build", "be", "have")
    tense: str  # past | pres | pres_pl
    particle: str
    obj: str  # object or predicate noun phrase ("" when none)
    pps: list[tuple[str, str]]  # (preposition, noun phrase) in order
    pred: str  # everything after the subject, as written
    app: str = ""  # an apposition the sentence gave the subject ("the town festival of X")

    @property
    def plural(self) -> bool:
        return self.tense == "pres_pl" or self.aux in ("were", "are", "do", "have")

    def answer(self, subject: str | None = None, app: bool = True) -> str:
        subject = subject if subject is not None else self.subj
        if app and self.app:
            subject = f"{subject}, {self.app},"
        return _cap_first(_articles(f"{subject} {self.pred}")) + "."


def _prepare(text: str) -> tuple[str, list[str]] | None:
    """The clause text with fronted dates/places moved to the end and fronted adverbials or
    subordinate clauses dropped; None for questions, quotations and imperatives' kin."""
    s = " ".join(text.split())
    if not s or s.endswith("?") or any(q in s for q in "\"“”"):
        return None
    s = s.rstrip(" .!;:")
    s = re.sub(r"\*\*|__", "", s)  # markdown emphasis
    s = re.sub(r"^[A-Z][\w ]{0,20}:\s+(?=[A-Za-z])", "", s)
    extras: list[str] = []
    for born in re.finditer(r"(?P<name>(?:[A-Z][\w.'-]*\s+){0,3}[A-Z][\w'-]*)\s+\((?:born|b\.)"
                            r"\s+(?P<date>[^()]+)\)", s):
        date = born["date"].strip()
        prep = "in" if re.fullmatch(_YEAR_RE, date) else "on"
        extras.append(f"{born['name']} was born {prep} {date}")
    s = re.sub(r"\s*\([^()]*\)", "", s)
    moved: list[str] = []
    for _ in range(3):
        m: re.Match[str] | None = _FRONT_DATE.match(s)
        if m:
            moved.append(f"{m['prep'].lower()} {m['np']}")
            s = s[m.end():]
            continue
        m = _FRONT_PP.match(s)
        if m:
            if m["np"][:1].isupper() or _DATE_NP.match(m["np"]):
                moved.append(f"{m['prep'].lower()} {m['np']}")
            s = s[m.end():]
            continue
        m = _FRONT_ADVERB.match(s) or _FRONT_CLAUSE.match(s)
        if m:
            s = s[m.end():]
            continue
        break
    if not s:
        return None
    s = _cap_first(s)
    if moved:  # at the end of the main clause, before a trailing ", which ..."
        cut = re.search(r",\s+(?:which|who|whom|whose|where|when|while|but|although|though|"
                        r"because|whereas|and then|[a-z]+ing)\b", s)
        at = cut.start() if cut else len(s)
        s = f"{s[:at]} {' '.join(moved)}{s[at:]}"
    return s, extras


def _verb_at(toks: Sequence[_Tok], i: int) -> bool:
    """Whether toks[i] can begin a finite verb group after a subject."""
    t = toks[i]
    if not t.word or t.cap:
        return False
    low = t.low
    if low in _BE or low in _HAVE or low in _DO or low in _MODALS:
        return True
    prev = toks[i - 1].low if i else ""
    if prev in _DETERMINERS or prev in _PREPS or prev in ("'s", "’s") or prev in _NUMBER_WORDS \
            or prev[:1].isdigit():
        return False
    nxt = toks[i + 1].low if i + 1 < len(toks) else ""
    if _ed_base(low) and low not in _ED_ADJECTIVES and low != "born":
        return nxt != "by"  # "the bridge designed by X opened": a reduced relative
    if _s_base(low):
        return True
    if i and toks[i - 1].cap and toks[i - 1].word and _guess_s_base(low) and (
            i > 1 or not toks[0].text[1:].islower()):
        return True  # after a name: "Nimbus Labs converts", "MeMo runs" (not "Paper figures")
    if low in _VERB_BASES and i and (prev == "and" or (
            prev.endswith("s") and not prev.endswith(("ss", "us", "is", "ous"))
            and prev not in _STOPWORDS and not _s_base(prev))):
        return True  # a plural subject: "The Quills live", "Tickets cost"
    return False


_TIME_NOUNS = _set("day week month year spring summer autumn fall winter morning evening night "
                   "afternoon weekend monday tuesday wednesday thursday friday saturday sunday "
                   "decade century hour")
_ADVERB_WORDS = _set(
    "solo alone home abroad together away back fast hard late early daily weekly again here there "
    "overseas downstairs upstairs online offline ahead apart aside north south east west inside "
    "outside nearby free first last twice once often"
)
_LY_NOUNS = _set("family supply assembly rally reply ally belly jelly bully lily fly july italy "
                 "holy ugly only monopoly anomaly")


def _common(word: str) -> bool:
    """Whether a capitalised sentence-initial word is an ordinary word, not a name."""
    low = word.lower()
    return (low in _STOPWORDS or low in _VERB_BASES or low in _PREPS or low in _ROLE_NOUNS
            or low in _ORG_TYPES or low in _PLACE_TYPES or low in _MEASURES or low in _MONEY
            or low in _DURATION or low in _RELATION_NOUNS or low.endswith(("s", "ing", "tion",
                                                                           "ment", "ness")))


def _adverb(low: str) -> bool:
    return low in _ADVERB_WORDS or (low.endswith("ly") and len(low) > 4 and low not in _LY_NOUNS)


def _participle(low: str) -> bool:
    return low in _PART_BASE or low == "born" or (low.endswith("ed") and bool(_ed_base(low)))


def _ing_base(low: str) -> str | None:
    if not low.endswith("ing") or len(low) < 5:
        return None
    stem = low[:-3]
    for cand in (stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else ""):
        if cand in _VERB_BASES:
            return cand
    return None


def _verb_group(toks: Sequence[_Tok], v: int) -> tuple[list[str], int] | None:
    """(lowercase words, index after) of the verb group at v, adverbs left out; None when it
    is negated."""
    lows: list[str] = []
    j = v
    while j < len(toks):
        low = toks[j].low
        if low in _NEGATIONS or low.endswith("n't"):
            return None
        if lows and low in _VG_ADVERBS:
            j += 1
            continue
        prev = lows[-1] if lows else ""
        if not lows:
            take, more = True, low in _BE or low in _HAVE or low in _DO or low in _MODALS
        elif prev in _MODALS or prev in _DO:
            take = low in _VERB_BASES or low in ("be", "have")
            more = low in ("be", "have")
        elif prev in _HAVE or prev == "have":
            take, more = low == "been" or _participle(low), low == "been"
        elif prev in _BE or prev in ("be", "been", "being"):
            take = low == "being" or _participle(low) or _ing_base(low) is not None
            more = low == "being"
        else:
            take = more = False
        if not take:
            break
        lows.append(low)
        j += 1
        if not more:
            break
    return (lows, j) if lows else None


class _Parser:
    """Turns a resolved sentence into clauses (see `_Clause`)."""

    def __init__(self, names: _Names, known: set[str]):
        self.names, self.known = names, known

    def sentence(self, text: str, evidence: str) -> list[_Clause]:
        prepared = _prepare(text)
        if prepared is None:
            return []
        s, extras = prepared
        out: list[_Clause] = []
        for extra in extras:
            out.extend(self.clause(extra, evidence, 1))
        for part in re.split(r";\s+", s):
            out.extend(self.clause(_cap_first(part), evidence, 0))
        return out

    def _ent_for(self, text: str) -> _Ent | None:
        text = text.strip()
        if not text or not text[:1].isalpha():
            return None
        ent = self.names.get(text)
        if ent is not None and _key(text) in (ent.key, *(k for k, v in self.names.alias.items()
                                                         if v == ent.key)):
            return ent
        return None

    def clause(self, c: str, evidence: str, depth: int) -> list[_Clause]:
        if depth > 3:
            return []
        out: list[_Clause] = []
        app = ""  # "the town festival of Kilbrae" in "The Cedar Night, the town festival of ..."
        # "X, a civil engineer, designed ..." / "X, who ..., designed ...": an appositive fact
        m = re.match(r"^(?P<subj>[^,]+?),\s+(?P<mid>(?:who|which)\s+[^,]+|(?:an?|the)\s+[^,]+|"
                     r"[A-Z][^,]*['’]s\s+[a-z]+),\s+(?P<rest>.+)$", c)
        if m and self._ent_for(m["subj"]) is not None:
            rest_toks = _tokens(m["rest"])
            if rest_toks and _verb_at([_Tok("x", 0, 0), *rest_toks], 1):
                mid = m["mid"]
                if mid.split()[0] in ("who", "which"):
                    extra = f"{m['subj']} {mid.split(' ', 1)[1]}"
                else:
                    be = "was" if rest_toks[0].low in ("was", "were") or (
                        _ed_base(rest_toks[0].low) and rest_toks[0].low not in _BE) else "is"
                    extra = f"{m['subj']} {be} {mid}"
                out.extend(self.clause(extra, evidence, depth + 1))
                c = f"{m['subj']} {m['rest']}"
        # "The director, Lena Ash, said ...": Lena Ash said ..., and Lena Ash is the director
        m = re.match(r"^(?P<np>(?:The|My|Our|Her|His|Its|Their|[A-Z][\w-]*(?:\s[A-Z][\w-]*)*"
                     r"['’]s?)(?:\s[a-z][a-z-]*){1,3}(?:\sof\s[A-Z][\w'-]*(?:\s[A-Z][\w'-]*)*)?),"
                     r"\s+(?P<name>(?:the\s)?[A-Z][^,]*?),\s+(?P<rest>.+)$", c)
        if m and self._ent_for(m["name"]) is not None:
            rest_toks = _tokens(m["rest"])
            if rest_toks and _verb_at([_Tok("x", 0, 0), *rest_toks], 1):
                if m["np"].split()[0] not in ("My", "Our"):
                    low = rest_toks[0].low
                    be = "was" if low in ("was", "were") or (
                        _ed_base(low) and low not in _BE and not _s_base(low)) else "is"
                    np = m["np"][0].lower() + m["np"][1:] if m["np"].startswith("The ") \
                        else m["np"]
                    out.extend(self.clause(f"{_cap_first(m['name'])} {be} {np}", evidence,
                                           depth + 1))
                    app = np if re.search(r"^the .* of [A-Z][^']*$", np) else ""
                c = f"{_cap_first(m['name'])} {m['rest']}"
        toks = _tokens(c)
        if len(toks) < 3:
            return out
        # ", and his son Tomas became king": an independent clause after the comma
        for k in range(1, len(toks) - 3):
            if toks[k].text == "," and toks[k + 1].low in ("and", "but", "so", "yet"):
                tail = _cap_first(c[toks[k + 2].start:])
                tail_toks = _tokens(tail)
                v = next((i for i in range(1, min(len(tail_toks), 9))
                          if _verb_at(tail_toks, i)), None)
                if v is not None and (tail_toks[0].cap or tail_toks[0].low == "the") and all(
                        t.word or t.text in ("'s", "’s") for t in tail_toks[:v]):
                    out.extend(self.clause(tail, evidence, depth + 1))
                    c = c[:toks[k].start]
                    toks = _tokens(c)
                    break
        # a trailing clause: ", which opened in 1990" is a fact about the name before the comma
        for k, t in enumerate(toks):
            if t.text != "," or k + 1 >= len(toks):
                continue
            nxt = toks[k + 1]
            if nxt.low in _TRAILING or (nxt.low.endswith("ing") and nxt.word and not nxt.cap
                                        and nxt.low not in ("during", "including")):
                tail = c[nxt.start:]
                if nxt.low in ("which", "who") and k + 2 < len(toks) and (
                        _verb_at(toks, k + 2) or toks[k + 2].low in _VERB_BASES):
                    before = self._name_before(c, toks, k)
                    np = before.surface(True) if before is not None else self._np_before(c, toks,
                                                                                           k)
                    # the relative clause ends at a comma after which the main verb goes on
                    end = len(c)
                    for j in range(k + 3, len(toks) - 1):
                        if toks[j].text == "," and _verb_at([_Tok("x", 0, 0), toks[j + 1]], 1):
                            end = toks[j].start
                            break
                    if np:
                        out.extend(self.clause(f"{np} {c[toks[k + 2].start:end]}", evidence,
                                               depth + 1))
                elif nxt.low == "but":
                    out.extend(self.clause(_cap_first(tail[4:]), evidence, depth + 1))
                c = c[:t.start]
                toks = toks[:k]
                break
        if len(toks) < 3:
            return out
        if toks[0].low == "there" and toks[1].low in _BE:
            there = self._there(c, toks, evidence)
            return out + ([there] if there else [])
        v = next((i for i in range(1, len(toks)) if _verb_at(toks, i)), None)
        if v is None or any(t.text in ",;:" for t in toks[:v]):
            return out
        subj_toks = toks[:v]
        while len(subj_toks) > 1 and subj_toks[-1].low in _VG_ADVERBS and not subj_toks[-1].cap:
            subj_toks = subj_toks[:-1]  # "The guild still keeps": "still" is the verb's
        lows = [t.low for t in subj_toks]
        ent = self._ent_for(_span(c, subj_toks))
        if (lows[0] in _PREPS or lows[0] in _SUBORDINATORS or lows[0] in _WH
                or lows[0] in ("i", "we", "you", "this", "that", "these", "those", "it", "my",
                               "our", "your", "every", "each", "there", "here")
                or any(w in _UNRESOLVED or w in _NEGATIONS or w in ("who", "which", "that",
                                                                    "whose") for w in lows)
                or any(t.low in _PREPS and not t.cap and (
                    t.low not in ("of", "for", "from", "in", "at", "on", "with", "to")
                    or len(lows) > 6) for t in subj_toks[1:])
                or any(t.text[:1].isdigit() for t in subj_toks[1:]) and ent is None
                or len(subj_toks) > 8):
            return out
        if (lows[-1] in _CONJ or not any(t.word and t.low not in _STOPWORDS and t.low not in
                                         _NUMBER_WORDS for t in subj_toks)
                or (len(subj_toks) <= 2 and (_s_base(lows[0]) or lows[0] in _PAST_BASE)
                    and lows[-1] in ("and", lows[0]))):
            return out  # "A renamed or moved file", "Two processes", "Runs and is tested"
        for j in range(1, len(subj_toks)):  # a verb left in the subject: the sentence was misread
            t = subj_toks[j]
            if t.word and not t.cap and subj_toks[j - 1].low not in _DETERMINERS and (
                    _s_base(t.low) or (_guess_s_base(t.low) and not subj_toks[j - 1].word)
                    or (t.low in _PAST_BASE and t.low not in _PART_BASE)):
                return out
        group = _verb_group(toks, v)
        if group is None:
            return out
        vlows, after = group
        subj = _span(c, subj_toks)
        # "Mara Quill's sister Ilse Quill runs ...": a relation, then Ilse Quill runs ...
        rel = re.match(rf"^(?P<owner>.+?)['’]s\s+(?P<rel>{'|'.join(sorted(_RELATION_NOUNS))}),?"
                       rf"\s+(?P<name>[A-Z].+)$", subj)
        if rel and self._ent_for(rel["name"]) is not None:
            out.extend(self.clause(f"{rel['name']} is {rel['owner']}'s {rel['rel']}", evidence,
                                   depth + 1))
            return out + self.clause(f"{rel['name']} {c[toks[v].start:]}", evidence, depth + 1)
        comp = list(toks[after:])
        particle = ""
        # coordinated predicates: "was designed by X and built in 1987"
        for k, t in enumerate(comp):
            if t.low != "and" or k + 1 >= len(comp):
                continue
            j = k + 1
            while j < len(comp) and comp[j].low in _VG_ADVERBS:
                j += 1
            if j >= len(comp):
                break
            nxt = comp[j]
            if not (_verb_at(comp, j) or (_participle(nxt.low) and vlows[0] in _BE)):
                continue
            second = c[nxt.start:]
            after_verb = comp[j + 1] if j + 1 < len(comp) else None
            takes_object = after_verb is not None and after_verb.word and (
                after_verb.low not in _PREPS or after_verb.low in ("the", "a", "an"))
            if (vlows[0] in _BE and len(vlows) > 1 and _participle(nxt.low)
                    and nxt.low not in _BE and (_ed_base(nxt.low) or "") not in _INTRANSITIVE
                    and not takes_object):
                second = f"{vlows[0]} {second}"  # "was designed by X and built in 1987"
            out.extend(self.clause(f"{subj} {second}", evidence, depth + 1))
            end = comp[k - 1].end if k and comp[k - 1].text == "," else t.start
            c = c[:end].rstrip(" ,")
            comp = comp[:k - 1] if k and comp[k - 1].text == "," else comp[:k]
            break
        plural = (subj_toks[-1].low.endswith("s") and ent is None
                  and subj_toks[-1].low not in ("'s", "’s")) or "and" in lows
        form, aux, rest, main, tense = self._classify(vlows, plural)
        if form == "":
            return out
        # "trained 300 pilots before it closed": the subordinate clause is not a phrase
        for k, t in enumerate(comp):
            if t.low in _CLAUSE_LINKS and k + 2 < len(comp) and (
                    comp[k + 1].cap or comp[k + 1].low in _DETERMINERS
                    or comp[k + 1].low in _PRONOUNS) and any(
                        _verb_at(comp, j) for j in range(k + 2, min(len(comp), k + 8))):
                c = c[:t.start].rstrip(" ,")
                comp = comp[:k]
                break
        if form == "active" and comp and (comp[0].low in _PARTICLES or (
                comp[0].low == "over" and main in ("take", "hand", "turn"))):
            particle = comp[0].low
            comp = comp[1:]
        obj_toks, pps = self._segments(c, comp, form == "active")
        if obj_toks is None:
            return out
        if obj_toks and (obj_toks[0].low in _NEGATIONS or obj_toks[0].low in _BE
                         or obj_toks[0].low in _HAVE or (
                form == "active" and obj_toks[0].low in _PAST_BASE and obj_toks[0].low not in
                ("found", "set", "cut", "put", "cost", "read", "let", "hit", "bet"))):
            return out  # "Previous work relied ...": the verb was misread
        if obj_toks and not any(t.word and t.low not in _STOPWORDS or t.text[:1].isdigit()
                                for t in obj_toks):
            return out  # "runs a": the rest of the sentence is elsewhere
        pred = c[toks[len(subj_toks)].start:].strip()
        obj = _span(c, obj_toks).rstrip(" ,")
        appositive = re.match(r"^(?P<name>[A-Z][^,]*?),\s+(?:an?|the)\s+[^,]+$", obj)
        if appositive and self._ent_for(appositive["name"]) is not None:
            obj = appositive["name"]  # "Nimbus Labs, a software company": Nimbus Labs
        # "X is a shipyard founded by Y in 1899": X was founded by Y in 1899
        reduced = re.match(r"^(?:an?|the)\s+(?:[a-z-]+\s+){1,3}?(?P<vbn>[a-z]+)\s+"
                           r"(?P<rest>(?:by|in|on)\s+.+)$",
                           c[toks[after].start:] if after < len(toks) else "")
        if form == "copula" and ent is not None and reduced and _participle(reduced["vbn"]):
            if obj.endswith(f" {reduced['vbn']}"):
                obj = obj[:-len(reduced["vbn"]) - 1]  # "a glassblower born": a glassblower
            pps = []  # the phrases belong to the participle's clause
        else:
            reduced = None
        out.append(_Clause(
            text=c, evidence=evidence, subj=subj, ent=ent, form=form, aux=aux, rest=rest,
            vg=" ".join(vlows), main=main, tense=tense, particle=particle, obj=obj, pps=pps,
            pred=pred, app=app if c.startswith(subj) else "",
        ))
        if reduced is not None:
            out.extend(self.clause(f"{subj} {'was' if reduced['vbn'] == 'born' else vlows[0]} "
                                   f"{reduced['vbn']} {reduced['rest']}", evidence, depth + 1))
        # "founded Nimbus Labs, a software company, in 2019": the appositive is a fact too
        for m in re.finditer(r"(?P<name>[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*),\s+(?P<mid>(?:an?|the)"
                             r"\s+[a-z][^,]*?)(?:,|$)", pred):
            if self._ent_for(m["name"]) is not None:
                out.extend(self.clause(f"{m['name']} is {m['mid']}", evidence, depth + 1))
        return out

    def _name_before(self, c: str, toks: Sequence[_Tok], k: int) -> _Ent | None:
        for start, end, _ in _name_runs(toks[:k], self.known):
            if end == k:
                return self.names.get(_span(c, toks[start:end]))
        return None

    @staticmethod
    def _np_before(c: str, toks: Sequence[_Tok], k: int) -> str:
        """"the chloroplasts" before ", which ...": a short definite noun phrase, or ""."""
        j = k - 1
        while j >= 0 and k - j <= 3 and toks[j].word and not toks[j].cap and \
                toks[j].low not in _STOPWORDS and toks[j].low not in _PREPS:
            j -= 1
        if j >= 0 and j < k - 1 and toks[j].low == "the":
            return _cap_first(_span(c, toks[j:k]))
        return ""

    @staticmethod
    def _classify(vlows: list[str], plural: bool = False) -> tuple[str, str, str, str, str]:
        """(form, auxiliary, rest, main verb base, tense) of a verb group."""
        first, last = vlows[0], vlows[-1]
        tense = (_BE.get(first) or _HAVE.get(first) or _DO.get(first)
                 or ("modal" if first in _MODALS else ""))
        if tense in ("past_pl",):
            tense = "past"
        if len(vlows) == 1:
            if first in _BE:
                return "copula", first, "", "be", tense
            if first in _HAVE:
                return "active", {"has": "does", "have": "do", "had": "did"}[first], "have", \
                    "have", tense
            if first in _MODALS or first in _DO:
                return "", "", "", "", ""
            base = _PAST_BASE.get(first) or (_ed_base(first) if first.endswith("ed") else None)
            if base == first and plural:
                return "active", "do", base, base, "pres_pl"  # "Tickets cost 12 coins"
            if base:
                return "active", "did", base, base, "past"
            base = _s_base(first) or _guess_s_base(first)
            if base:
                return "active", "does", base, base, "pres"
            if first in _VERB_BASES:
                return "active", "do", first, first, "pres_pl"
            return "", "", "", "", ""
        rest = " ".join(vlows[1:])
        if last in ("be", "been", "being") or last in _BE:
            return "copula", first, rest, "be", tense
        if _participle(last) and any(w in _BE or w in ("be", "been", "being") for w in vlows):
            base = _ed_base(last) or last
            return "passive", first, rest, base, tense
        if _participle(last) and (vlows[-2] in _HAVE or vlows[-2] == "have"):
            return "active", first, rest, _ed_base(last) or last, tense
        ing = _ing_base(last)
        if ing:
            return "active", first, rest, ing, tense
        if last in _VERB_BASES or last == "have":
            return "active", first, rest, last, tense
        return "", "", "", "", ""

    def _segments(self, c: str, comp: Sequence[_Tok], active: bool = False
                  ) -> tuple[list[_Tok] | None, list[tuple[str, str]]]:
        obj: list[_Tok] = []
        pps: list[tuple[str, list[_Tok]]] = []
        cur = obj
        for k, t in enumerate(comp):
            low = t.low
            if t.word and not t.cap and low in _PREPS and low != "of":
                nxt = comp[k + 1].low if k + 1 < len(comp) else ""
                if low == "to" and cur is obj and not pps and nxt in _VERB_BASES:
                    cur.append(t)  # an infinitive: "decided to build"
                    continue
                if low in ("to", "and", "until") and pps and pps[-1][0] in ("from", "between"):
                    cur.append(t)
                    continue
                if low == "as" and k + 1 < len(comp) and comp[k + 1].low in ("well", "much"):
                    return None, []
                if low in ("about", "around", "over", "under") and cur is obj and not obj and \
                        k + 1 < len(comp) and _is_number(comp[k + 1].text):
                    cur.append(t)  # "downloads about 300 MB": an approximation, not a topic
                    continue
                pps.append((low, []))
                cur = pps[-1][1]
                continue
            if cur is obj and not obj and t.low in ("every", "each", "last", "next") and \
                    k + 1 < len(comp) and (comp[k + 1].low.rstrip("s") in _TIME_NOUNS
                                           or comp[k + 1].text in _MONTHS):
                pps.append(("", [t]))  # "performs every spring": a time, not an object
                cur = pps[-1][1]
                continue
            if active and cur is obj and not obj and _adverb(t.low) and (
                    k + 1 >= len(comp) or comp[k + 1].low in _PREPS or not comp[k + 1].word):
                continue  # "flew solo across", "rowed out alone": no object
            cur.append(t)
        out = []
        for prep, np_toks in pps:
            np_toks = [t for t in np_toks]
            while np_toks and np_toks[-1].text in ",":
                np_toks.pop()
            if not np_toks:
                return None, []
            out.append((prep, _span(c, np_toks)))
        while obj and obj[-1].text == ",":
            obj.pop()
        return obj, out

    def _there(self, c: str, toks: Sequence[_Tok], evidence: str) -> _Clause | None:
        obj_toks, pps = self._segments(c, toks[2:])
        if obj_toks is None or not obj_toks:
            return None
        return _Clause(text=c, evidence=evidence, subj="There", ent=None, form="there",
                       aux=toks[1].low, rest="", vg=toks[1].low, main="be",
                       tense=_BE.get(toks[1].low, "pres"), particle="",
                       obj=_span(c, obj_toks), pps=pps, pred=c[toks[1].start:])


# Questions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ask:
    """A question and its answer with a slot (`_SLOT`) where a name goes: filled with the name
    for direct questions, or with a description of it for two-hop ones."""

    question: str
    answer: str
    name: str  # what the slot stands for, as written mid-sentence
    slot: str  # the key of that name ("" when it is not a name)
    kind: str  # direct | entity
    target: str  # the asked-for text: a two-hop question must not give it away
    evidence: str
    hop: bool = False  # whether the slot may be replaced by a description
    bare: str = ""  # the answer without the subject's apposition, for two-hop answers

    def pair(self) -> Pair:
        return Pair(_fill(self.question, self.name), _fill(self.answer, self.name), self.kind,
                    self.evidence)


@dataclass(frozen=True)
class _Desc:
    """A name described by one fact: "who designed the Hollow Bridge" (q) and, for answers, the
    same as an apposition (a)."""

    key: str
    q: str  # "who designed the Hollow Bridge" / "that Mara Quill founded"
    a: str  # "who designed the Hollow Bridge" / "which Mara Quill founded"
    evidence: str
    containment: str = ""  # for "X is in Z" facts: Z's key
    noun: bool = False  # q is a noun phrase that stands for the name alone ("the mayor of X")


def _is_time(np: str) -> bool:
    return bool(_DATE_NP.match(np)) or bool(re.match(
        r"^(?:every|each|last|next)\s+(?:\w+\s+)?(?:" + "|".join(_TIME_NOUNS | _MONTHS)
        + r")s?$", np, re.I))


def _article(np: str) -> str:
    """"a" or "an" for a noun phrase, by its first letter."""
    return "an" if np[:1].lower() in "aeio" and not np.lower().startswith(("one", "eu")) else "a"


def _articles(text: str) -> str:
    """"a archivist" -> "an archivist", "an clockmaker" -> "a clockmaker" (clear cases only:
    a vowel a/e/i/o, or a consonant other than h)."""
    def fix(m: re.Match[str]) -> str:
        word = m["word"]
        if word[0] in "aeio" or word[0] in "bcdfgjklmnpqrstvwxyz":
            art = _article(word)
            art = art.capitalize() if m["art"][0].isupper() else art
            return f"{art} {word}"
        return m.group()
    return re.sub(r"\b(?P<art>[Aa]n?) (?P<word>[a-z][\w-]*)", fix, text)


def _fill(template: str, name: str, app: str = "") -> str:
    if _SLOT not in template:
        return _cap_first(template)
    if app:
        after = template.split(_SLOT, 1)[1]
        name = f"{name}, {app}" if after.startswith((".", "?")) or not after else \
            f"{name}, {app},"
    return _cap_first(_norm_space(template.replace(_SLOT, name)))


def _q(*parts: str) -> str:
    return _cap_first(_norm_space(" ".join(p for p in parts if p))) + "?"


def _words_of(text: str) -> int:
    return len(text.split())


_COUNT = re.compile(
    r"^(?P<pre>(?:about|around|over|nearly|almost|more than|fewer than|less than|some|roughly|"
    r"exactly|at least|up to)\s+)?(?P<num>[$€£]?\d[\d,.]*(?:\s+(?:million|billion|thousand))?|"
    + "|".join(_NUMBER_WORDS) + r")\s+(?!of\b)(?P<noun>[A-Za-z][\w\- ]*?)(?P<list>:.*)?$"
)


def _plain_np(np: str) -> bool:
    """Whether a noun phrase can stand inside a question: no verb or pronoun of its own
    ("10 questions it had never seen" cannot)."""
    toks = _tokens(np)
    return not any(t.low in _BE or t.low in _HAVE or t.low in _DO or t.low in _MODALS
                   or t.low in _NEGATIONS or t.low in _PRONOUNS for t in toks)


class _Asker:
    """The questions of one clause (`_asks`) and the descriptions it gives of its names
    (`_descs`)."""

    def __init__(self, names: _Names, known: set[str]):
        self.names, self.known = names, known

    # helpers ----------------------------------------------------------------------------

    def np_ent(self, np: str) -> _Ent | None:
        return self.names.get(np) if np[:1].isalpha() and (
            np[:1].isupper() or np.lower().startswith("the ")) else None

    def is_person(self, np: str) -> bool:
        ent = self.np_ent(np)
        return ent is not None and ent.personish

    def is_place(self, np: str, verb: str) -> bool:
        if _DATE_NP.match(np):
            return False
        ent = self.np_ent(np)
        if ent is not None:
            if ent.kind == "place":
                return True
            return not ent.personish and verb in _PLACE_VERBS
        if re.search(r"[A-Z]", np):
            toks = _tokens(np)
            for start, end, _ in _name_runs(toks, self.known):
                if _name_kind(_span(np, toks[start:end])) == "place":
                    return True
        words = np.lower().split()
        return (len(words) <= 4 and words[0] == "the" and words[-1] in _PLACE_TYPES
                and verb in _PLACE_VERBS)

    def mid(self, cl: _Clause) -> str:
        subj = cl.subj
        first = subj.split()[0]
        if first in ("The", "A", "An"):
            return first.lower() + subj[len(first):]
        run = re.match(r"[A-Z][\w.'’-]*(?:\s+(?:[A-Z][\w.'’-]*|of|de|van|von|the))*", subj)
        if run and self.names.get(run.group()) is not None:
            return subj  # "Port Aldren's mayor": a name, whatever its first word
        if cl.ent is None and first not in self.known and self.names.get(first) is None and (
                _common(first) or len(subj.split()) > 1):
            return first.lower() + subj[len(first):]
        return subj

    def owned(self, cl: _Clause) -> tuple[_Ent, str] | None:
        """(owner, noun) of a subject like "Kilbrae's mayor" whose owner is a name."""
        m = re.match(r"^(?P<owner>.+?)['’]s\s+(?P<np>[a-z][a-z-]*(?:\s+[a-z][a-z-]*){0,2})$",
                     cl.subj)
        owner = self.np_ent(m["owner"]) if m else None
        return (owner, m["np"]) if owner is not None and m else None

    def which(self, ent: _Ent | None) -> str:
        if ent is None:
            return ""
        if ent.type and ent.strength >= 1:
            return f"Which {ent.type}"
        return ""

    def who_or_what(self, np: str) -> str:
        head = np.lower().split()[-1] if np.split() else ""
        return "Who" if self.is_person(np) or head in _ROLE_NOUNS or head == "people" else "What"

    @staticmethod
    def _humanish(np: str) -> bool:
        head = np.lower().split()[-1] if np.split() else ""
        return head in _ROLE_NOUNS or head in _ORG_TYPES or head in ("people", "family", "team",
                                                                     "staff", "government")

    # questions --------------------------------------------------------------------------

    def asks(self, cl: _Clause) -> list[_Ask]:
        if cl.form == "there":
            return self._there(cl)
        out: list[_Ask] = []
        mid = self.mid(cl)
        slot = cl.ent.key if cl.ent else ""
        answer = cl.answer(_SLOT)
        bare = cl.answer(_SLOT, app=False) if cl.app else ""

        def add(question: str, target: str, kind: str = "direct", hop: bool = True,
                ans: str | None = None, name: str = mid, key: str = slot) -> None:
            if _words_of(question) > 20:
                return
            out.append(_Ask(question, ans or answer, name, key, kind, target, cl.evidence,
                            hop and bool(key), "" if ans else bare))

        if cl.form == "copula":
            self._copula(cl, add)
        elif cl.form == "passive":
            self._passive(cl, add)
        else:
            self._active(cl, add)
        return out

    def _there(self, cl: _Clause) -> list[_Ask]:
        m = _COUNT.match(cl.obj)
        if not m or not cl.pps:
            return []
        where = " ".join(f"{p} {np}" for p, np in cl.pps[:1])
        if not re.search(r"[A-Z0-9]", where):
            return []
        question = _q("How many", m["noun"], cl.aux, "there", where)
        return [_Ask(question, cl.answer(), "", "", "direct", m["num"], cl.evidence)]

    def _copula(self, cl: _Clause, add: _AddFn) -> None:
        S, aux, rest = _SLOT, cl.aux, cl.rest
        m = re.match(r"^(?:about |around |nearly |almost |over |more than |roughly |some )?"
                     r"(?P<num>[\d.,]+|\w+) (?P<unit>[a-z]+) (?P<dim>long|tall|high|wide|deep|old|"
                     r"thick|heavy)$", cl.obj)
        if m and (m["unit"] in _MEASURES or m["unit"] in _DURATION) and _is_number(m["num"]):
            add(_q(f"How {m['dim']}", aux, S, rest), m["num"])
            self._reverse(cl, add, cl.obj)
            return
        m = re.match(r"^(?P<num>[\d.,]+|\w+) (?P<unit>[a-z]+)(?: away)?$", cl.obj)
        if m and m["unit"] in _MEASURES and cl.pps and cl.pps[0][0] == "from":
            add(_q("How far", aux, S, rest, "from", cl.pps[0][1]), m["num"])
            return
        first_pp = cl.pps[0] if cl.pps else None
        obj_words = cl.obj.split()
        if (len(obj_words) == 1 and obj_words[0].lower() in _ADJ_PREP and first_pp
                and first_pp[0] in _ADJ_PREP[obj_words[0].lower()].split()):
            adj, (prep, np) = obj_words[0].lower(), first_pp
            add(_q(self.who_or_what(np), aux, S, rest, adj, prep), np, hop=False)
            which = self.which(cl.ent)
            if which and not cl.plural:
                add(_q(which, cl.vg, adj, prep, np), cl.subj, "entity", False)
            elif adj == "home" and not cl.plural:
                add(_q("What", cl.vg, adj, prep, np), cl.subj, "entity", False)
            return
        if obj_words and obj_words[0].lower() in ("open", "closed") and cl.pps and all(
                w.lower() in ("open", "closed") or w.lower() in _VG_ADVERBS or w.lower() in (
                    "daily", "weekly", "annually", "yearly") for w in obj_words):
            add(_q("When", aux, S, rest, obj_words[0].lower()), cl.pps[0][1], hop=False)
            return
        if not cl.obj and first_pp and _DATE_NP.match(first_pp[1]) and first_pp[0] in (
                "in", "on", "at", "during", "from"):
            add(_q("When", aux, S, rest), first_pp[1], hop=False)  # "The meeting is on 19 March"
            return
        if not cl.obj and first_pp and first_pp[0] in ("in", "at", "near", "on", "inside",
                                                        "beside", "outside", "under"):
            if self.is_place(first_pp[1], "locate"):
                add(_q("Where", aux, S, rest), first_pp[1])
                self._reverse(cl, add, " ".join(f"{p} {n}" for p, n in cl.pps[:1]))
            return
        if not cl.obj:
            return
        person = cl.ent.personish if cl.ent else self.is_person(cl.obj) or bool(
            re.search(rf"['’]s\s+(?:{'|'.join(sorted(_RELATION_NOUNS))})$", cl.subj))
        wh = "Who" if person else "What"
        owned = self.owned(cl)
        attribute = owned is not None and (owned[1].split()[0] in ("favourite", "favorite")
                                           or owned[1].split()[-1] in _ATTRIBUTE_NOUNS)
        if obj_words[0].lower() not in _DETERMINERS and not obj_words[0][:1].isupper() and \
                not _is_number(obj_words[0]) and obj_words[0].lower() not in ("one",) and \
                not attribute:
            return  # "is free", "is open daily": an adjective, not asked about
        if owned is not None and not rest and not cl.pps:
            # "Kilbrae's mayor is Mirela Varga": the mayor of Kilbrae, and whose mayor she is
            owner, np = owned
            add(_q(wh, aux, "the", np, "of", S), cl.obj, ans=f"The {np} of {S} {cl.pred}.",
                name=owner.surface(), key=owner.key)
            if self.np_ent(cl.obj) is not None and np.split()[-1] in _ROLE_NOUNS:
                ans = f"{cl.obj} {aux} the {np} of {owner.surface()}."
                q = _q(f"Of which {owner.type}", aux, cl.obj, "the", np) if owner.type else \
                    _q("Whose", np, aux, cl.obj)
                add(q, owner.surface(), "entity", False, ans=ans)
        count = re.match(r"^(?:an?|the)\s+(?:[a-z-]+\s+){0,3}?of\s+(?P<pre>(?:about|around|"
                         r"some|nearly|over|almost)\s+)?(?P<num>\d[\d,.]*)\s+(?P<noun>people|"
                         r"inhabitants|residents)$", cl.obj)
        if count and cl.ent is not None and cl.ent.kind == "place" and not rest:
            live = "lived" if aux in ("was", "were") else "live"
            add(_q("How many people", live, "in", S), count["num"])
            add(_q("What", aux, "the population of", S), count["num"])
        since = next((n for p, n in cl.pps if p == "since" and _DATE_NP.match(n)), None)
        if since:
            add(_q("Since when", aux, S, rest, cl.obj), since, hop=False)
        if not rest:  # "Who is X?", not "Who has X been?"
            add(_q(wh, aux, S, rest), cl.obj, hop=False)
            job = re.fullmatch(r"(?P<det>an?) (?P<np>(?:[a-z-]+ ){0,2}(?P<head>[a-z-]+))", cl.obj)
            if job and cl.ent is not None and cl.ent.personish and (
                    _type_kind(job["head"]) == "person" or job["head"].endswith(
                        ("er", "or", "ist", "ian"))) and job["head"] not in _RELATION_NOUNS \
                    and job["head"] not in _NOT_JOBS:
                ans = f"{S} {cl.vg} {_article(job['np'])} {job['np']}."
                add(_q("What", aux, f"{S}'s profession"), cl.obj, hop=False, ans=ans)
                add(_q("What", "did" if aux in ("was", "were") else "does", S, "work as"),
                    cl.obj, hop=False, ans=ans)
        place_pp = next(((p, n) for p, n in cl.pps if p in ("in", "at", "near")
                         and self.is_place(n, "locate")), None)
        if place_pp is not None and cl.ent is not None:
            add(_q("Where", aux, S, rest), place_pp[1])
        if cl.ent is None or cl.plural:
            return
        definite = (obj_words[0].lower() == "the" or re.match(r"^[A-Z].*['’]s\s", cl.obj)
                    or cl.obj.lower().startswith("one of"))
        comp_all = _norm_space(" ".join([cl.obj, *(f"{p} {n}" for p, n in cl.pps)]))
        if definite and _words_of(comp_all) <= 10:
            add(_q("Who" if cl.ent.personish else "What", cl.vg, comp_all), cl.subj, "entity",
                False)
        elif obj_words[0].lower() in ("a", "an") and first_pp and re.match(r"[A-Z]", first_pp[1]):
            type_ = _type_phrase(" ".join(obj_words[1:]))
            if type_:
                add(_q(f"Which {type_}", cl.vg, first_pp[0], first_pp[1]), cl.subj, "entity",
                    False)

    def _reverse(self, cl: _Clause, add: _AddFn, comp: str) -> None:
        """"Which bridge is 3 km long?", "Who was born in Vell?": the subject asked by name."""
        if cl.ent is None or cl.plural or not comp or cl.app:
            return  # with an apposition ("the town festival of X"), "Which festival" is vague
        which = self.which(cl.ent)
        if cl.ent.personish or (cl.ent.kind == "org" and cl.form == "active"):
            add(_q("Who", cl.vg, cl.particle, comp), cl.subj, "entity", False)
        if which:
            add(_q(which, cl.vg, cl.particle, comp), cl.subj, "entity", False)

    def _passive(self, cl: _Clause, add: _AddFn) -> None:
        S, aux, rest = _SLOT, cl.aux, cl.rest
        participle = rest.split()[-1]
        agent = next((np for p, np in cl.pps if p == "by" and not _DATE_NP.match(np)), None)
        times = [(p, np) for p, np in cl.pps if _DATE_NP.match(np) or (p == "" and _is_time(np))]
        places = [(p, np) for p, np in cl.pps if p in ("in", "at", "near", "on", "inside")
                  and self.is_place(np, cl.main)]
        others = [(p, np) for p, np in cl.pps if (p, np) not in times and (p, np) not in places
                  and np != agent]
        if participle in _LOCATIVE_ADJ:
            if places:
                add(_q("Where", aux, S, rest), places[0][1])
                self._reverse(cl, add, f"{places[0][0]} {places[0][1]}")
            return
        if agent:
            active = self._active_of(cl)
            if active:
                agent_ent = self.np_ent(agent)
                wh = "Who" if (self._humanish(agent) or re.search(r"\b[A-Z]", agent)) and not (
                    agent_ent is not None and agent_ent.kind in ("place", "thing")) else "What"
                add(_q(wh, active, S), agent)
                if agent_ent is not None:
                    base = cl.main
                    do = {"was": "did", "were": "did", "is": "does", "are": "does"}.get(aux)
                    if do:
                        ans = _cap_first(f"{cl.subj} {cl.pred}").replace(agent, _SLOT, 1) + "."
                        add(_q("What", do, S, base), self.mid(cl), "entity", True, ans=ans,
                            name=agent, key=agent_ent.key)
                    which = self.which(agent_ent)
                    if which:
                        add(_q(which, active, S), agent, "entity", False,
                            ans=None)
        tail = [f"{p} {np}" for p, np in others if p not in ("since", "until", "by", "as")
                and _words_of(np) <= 4 and re.search(r"[A-Z]", np)][:1]
        if cl.obj and participle in ("named", "called", "renamed", "nicknamed", "known"):
            add(_q("What", aux, S, rest), cl.obj)
        for p, np in times:
            if p == "since":
                add(_q("Since when", aux, S, rest, *tail), np)
            elif p in ("in", "on", "during", "at", ""):
                add(_q("When", aux, S, rest, cl.obj, *tail), np)
        if places:
            add(_q("Where", aux, S, rest, cl.obj), places[0][1])
        for p, np in others:
            dur = re.match(r"^(?:a|an|one|\d+|" + "|".join(_NUMBER_WORDS) + r")\s+(?P<u>\w+)$",
                           np)
            if p == "for" and dur and dur["u"] in _DURATION:
                add(_q("How long", aux, S, rest), np, hop=False)
                break
            money = _COUNT.match(np)
            if p == "for" and money and (money["noun"].split()[-1] in _MONEY
                                         or money["num"][:1] in "$€£"):
                add(_q("How much", aux, S, rest, "for"), money["num"], hop=False)
                break
            if p in ("after", "for", "to", "from", "with", "of", "on", "about", "as") and (
                    self.np_ent(np) is not None or p == "as"
                    or (p in ("of", "from") and participle in ("made", "built", "carved"))):
                add(_q(self.who_or_what(np), aux, S, rest, p), np, hop=False)
                break
        lead = ([f"by {agent}"] if agent else []) + [f"{p} {np}" for p, np in times[:1]] + \
            [f"{p} {np}" for p, np in places[:1]]
        if lead:
            self._reverse(cl, add, " ".join(lead[:1]))

    def _active_of(self, cl: _Clause) -> str:
        """The active verb of a passive clause, for "Who designed X?"."""
        aux = cl.aux
        if cl.rest.split()[0] in ("been", "being", "be"):
            if aux in ("has", "have", "had") and cl.rest.startswith("been "):
                return f"{aux} {cl.rest.split()[-1]}"
            return ""
        if aux in ("was", "were"):
            return _past(cl.main)
        if aux in ("is", "are"):
            return _third(cl.main)
        return ""

    def _active(self, cl: _Clause, add: _AddFn) -> None:
        S, aux = _SLOT, cl.aux
        verb = _norm_space(f"{cl.rest} {cl.particle}")
        obj = cl.obj
        pps = list(cl.pps)
        if cl.main == "take" and obj == "place":  # "takes place in the chloroplasts"
            verb, obj = f"{verb} place", ""
            places = [(p, np) for p, np in pps if p in ("in", "at", "on", "inside")][:1]
        else:
            places = [(p, np) for p, np in pps
                      if p in ("in", "at", "near", "on", "to", "from", "inside", "into")
                      and self.is_place(np, cl.main)
                      and (p != "to" or cl.main in _MOTION_VERBS)
                      and (p != "from" or cl.main in ("come", "hail", "move", "emigrate",
                                                      "return"))]
        times = [(p, np) for p, np in pps if _is_time(np)]
        others = [(p, np) for p, np in pps if (p, np) not in times and (p, np) not in places]
        m = _COUNT.match(obj) if obj and _plain_np(obj) else None
        if cl.main == "have" and obj:
            n = re.match(r"^an? (?P<noun>[a-z]+) of (?P<value>.+)$", obj)
            be = "was" if cl.tense == "past" else "is"
            if n:
                add(_q("What", be, "the", n["noun"], "of", S), n["value"])
            elif m and not re.fullmatch(_YEAR_RE, m["num"]):
                add(_q("How many", m["noun"], aux, S, "have"), m["num"])
            self._reverse(cl, add, obj if n or m else "")
            return
        # "gave Old Bren a silver medal": the person stays in the question
        to_whom = ""
        d = re.match(r"^(?P<who>[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)*)\s+(?P<what>(?:an?|the|\d+|"
                     r"some)\s.+)$", obj)
        if d and self.is_person(d["who"]) and cl.main in _GIVING:
            to_whom, obj = d["who"], d["what"]
            m = _COUNT.match(obj)
        if m and not re.fullmatch(_YEAR_RE, m["num"]):
            noun = m["noun"]
            if noun.split()[-1] in _MONEY or m["num"][:1] in "$€£" or cl.main in ("cost", "weigh"):
                add(_q("How much", aux, S, verb, to_whom), m["num"])
            elif noun.split()[-1] in _DURATION and cl.main in ("last", "take", "spend"):
                add(_q("How long", aux, S, verb, to_whom), m["num"])
            else:
                add(_q("How many", noun, aux, S, verb, to_whom), m["num"])
                if m["list"]:
                    add(_q("Which", noun, aux, S, verb, to_whom), m["list"][1:].strip())
        elif obj:
            first = obj.split()[0].lower()
            if first == "to" and len(obj.split()) > 1:
                add(_q("What", aux, S, verb, "to do"), obj)
            elif first in _WH or first in ("if", "whether"):
                pass
            elif first not in _UNRESOLVED:
                wh = "What" if first == "that" or cl.main in ("become", "remain", "seem", "stay") \
                    else self.who_or_what(obj)
                add(_q(wh, aux, S, verb, to_whom), obj)
        if obj.split()[:1] == ["that"]:
            self._reverse(cl, add, obj if _words_of(obj) <= 10 else "")
            return  # the dates and places belong to the reported clause
        short_obj = _norm_space(f"{to_whom} {obj}") if (_words_of(obj) <= 6 and not m
                                                        and _plain_np(obj)) else ""
        tail = [f"{p} {np}" for p, np in others if _words_of(np) <= 4 and re.search(r"[A-Z]", np)
                and p not in ("by", "as", "like")][:1]
        moved = not obj and cl.main in _MOTION_VERBS  # "moved to Orvane in 2002"
        for p, np in times:
            if obj and not short_obj:
                break
            goal = [f"{x} {y}" for x, y in places[:1]] if moved and not tail else tail
            if p == "since":
                add(_q("Since when", aux, S, verb, short_obj, *tail), np)
            elif p == "until":
                add(_q("Until when", aux, S, verb, short_obj, *tail), np)
            elif p in ("in", "on", "during", "at", "around", ""):
                add(_q("When", aux, S, verb, short_obj, *goal), np)
        if places and (short_obj or not obj):
            p, np = places[0]
            when = [f"{x} {y}" for x, y in times[:1] if x in ("in", "on", "during")] if moved \
                else []
            add(_q("Where", aux, S, verb, short_obj, "from" if p == "from" else "", *when), np)
        for p, np in others:
            dur = re.match(r"^(?:a|an|one|\d+|" + "|".join(_NUMBER_WORDS) + r")\s+(?P<u>\w+)$",
                           np)
            if p == "for" and dur and dur["u"] in _DURATION and (short_obj or not obj):
                add(_q("How long", aux, S, verb, short_obj), np, hop=False)
                break
            if p in ("with", "for", "to", "about", "on", "against", "into", "after", "under",
                     "from", "as") and (self.np_ent(np) is not None or re.search(
                         r"\b[A-Z]", np) or p == "as") and (short_obj or not obj):
                add(_q(self.who_or_what(np), aux, S, verb, short_obj, p), np, hop=False)
                break
        lead = _norm_space(f"{to_whom} {obj}") if _words_of(obj) <= 8 and _plain_np(obj) else ""
        if not obj:
            lead = " ".join(f"{p} {np}" for p, np in (places + others)[:1]
                            if _words_of(np) <= 5 and re.search(r"[A-Z]", np))
        extra = times[:1] if not obj else (times + places)[:1]
        comp = " ".join(x for x in [lead, *(f"{p} {np}" for p, np in extra)] if x)
        if obj or times or places:
            self._reverse(cl, add, comp)

    # descriptions -----------------------------------------------------------------------

    def descs(self, cl: _Clause) -> list[_Desc]:
        out: list[_Desc] = []
        mid = self.mid(cl)
        first_pp = " ".join(f"{p} {np}" for p, np in cl.pps[:1])
        if cl.form == "there":
            return out
        if cl.ent is not None and not cl.plural:
            rel = ""
            if cl.form == "active" and cl.obj and _words_of(cl.obj) <= 6 and cl.main != "have":
                rel = f"{cl.vg} {cl.particle} {cl.obj}"
            elif cl.form == "active" and not cl.obj and first_pp and cl.main != "have":
                rel = f"{cl.vg} {cl.particle} {first_pp}"
            elif cl.form == "passive" and first_pp:
                rel = f"{cl.vg} {first_pp}"
            elif cl.form == "copula" and cl.obj.lower().startswith("the ") and \
                    _words_of(cl.obj) <= 6:
                rel = f"{cl.vg} {cl.obj}"
            elif cl.form == "copula" and cl.obj.split()[:1] == ["home"] and first_pp:
                rel = f"{cl.vg} {cl.obj} {first_pp}"
            if rel:
                who = "who" if cl.ent.personish else "that"
                which = "who" if cl.ent.personish else "which"
                containment = ""
                if cl.form == "copula" or cl.rest in ("located", "situated"):
                    z = next((np for p, np in cl.pps if p in ("in", "of")), None)
                    m = re.search(r"\b(?:of|in)\s+(?P<z>[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)$",
                                  cl.obj)
                    z = z or (m["z"] if m else None)
                    z_ent = self.np_ent(z) if z else None
                    if z_ent is not None and z_ent.kind == "place":
                        containment = z_ent.key
                rel = _norm_space(rel)
                out.append(_Desc(cl.ent.key, f"{who} {rel}", f"{which} {rel}", cl.evidence,
                                 containment))
        owned = self.owned(cl) if cl.form == "copula" and not cl.pps and not cl.rest else None
        o = self.np_ent(cl.obj) if owned is not None else None
        if owned is not None and o is not None and owned[1].split()[-1] in _ROLE_NOUNS:
            np = f"the {owned[1]} of {owned[0].surface()}"  # "the mayor of Kilbrae"
            out.append(_Desc(o.key, np, np, cl.evidence, noun=True))
        if cl.form == "active" and cl.obj and cl.main != "have":
            o = self.np_ent(cl.obj)
            if o is not None and not cl.plural:
                rel = _norm_space(f"{mid} {cl.vg} {cl.particle}")
                out.append(_Desc(o.key, f"{'who' if o.personish else 'that'} {rel}",
                                 f"{'who' if o.personish else 'which'} {rel}", cl.evidence))
        if cl.form in ("copula", "passive", "active") and not cl.plural:
            for p, np in cl.pps:
                place = self.np_ent(np)
                if ((p in ("in", "at") or (p == "to" and cl.main in _MOTION_VERBS))
                        and place is not None and place.kind == "place"
                        and self.is_place(np, cl.main)):
                    if cl.form == "copula":
                        rel = f"{mid} {cl.vg}"
                    elif cl.form == "passive":
                        rel = f"{mid} {cl.vg}"
                    elif cl.aux in ("did", "does", "do"):
                        obj = cl.obj if _words_of(cl.obj) <= 4 else ""
                        rel = f"{mid} {cl.vg} {cl.particle} {obj}"
                    else:
                        continue
                    rel = _norm_space(rel)
                    out.append(_Desc(place.key, f"where {rel}", f"where {rel}", cl.evidence))
                    break
        if cl.form == "passive":
            agent = next((np for p, np in cl.pps if p == "by"), None)
            a = self.np_ent(agent) if agent else None
            active = self._active_of(cl)
            if a is not None and active:
                rel = f"{active} {mid}"
                out.append(_Desc(a.key, f"{'who' if a.personish else 'that'} {rel}",
                                 f"{'who' if a.personish else 'which'} {rel}", cl.evidence))
        return out


# One chunk, analysed once ---------------------------------------------------------------------


@dataclass
class _Analysis:
    text: str
    context: str
    units: list[_Unit]
    resolved: list[str]  # per unit: the text with pronouns resolved (records: as written)
    clauses: list[list[_Clause]]  # per unit
    names: _Names
    known: set[str]
    asks: list[list[_Ask]] = field(default_factory=list)  # per unit
    descs: list[_Desc] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text


def _body(unit: _Unit) -> str:
    return _item_body(unit) if unit.kind == "item" else unit.text


@lru_cache(maxsize=64)
def _analyse_chunk(text: str, context: str | None) -> _Analysis:
    units = _units(text, context)
    bodies = [_body(u) for u in units if u.kind in ("sentence", "item")]
    known = _known_caps(bodies) | _start_names(
        bodies, {u.context for u in units} | {u.text.lstrip("# ") for u in units
                                               if u.kind == "heading"})
    names = _Names()
    for body in bodies:
        toks = _tokens(body)
        for start, end, article in _name_runs(toks, known):
            names.add(_span(body, toks[start:end]), article)
    for unit in units:
        if unit.kind == "record":
            for _, value in unit.fields[:1]:
                if re.fullmatch(r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,4}", value):
                    names.add(value).count += 1
    _pattern_types(bodies, names)
    resolver = _Resolver(names, known, None)
    parser = _Parser(names, known)
    resolved: list[str] = []
    clauses: list[list[_Clause]] = []
    seen_context: str | None = None
    for unit in units:
        if unit.context != seen_context:
            seen_context = unit.context
            resolver.reset(_seed(names, unit.context))
        if unit.kind in ("sentence", "item"):
            out, _, _ = resolver.resolve(_body(unit))
            resolved.append(out)
            readable = len(out.split()) >= 3 and not _code_like(out)
            clauses.append(parser.sentence(out, unit.text) if readable else [])
        else:
            resolved.append(unit.text)
            clauses.append([])
    analysis = _Analysis(text, context or "", units, resolved, clauses, names, known)
    asker = _Asker(names, known)
    for unit_clauses in clauses:
        analysis.asks.append([a for cl in unit_clauses for a in asker.asks(cl)])
        analysis.descs.extend(d for cl in unit_clauses for d in asker.descs(cl))
    return analysis


def _dangling(text: str) -> bool:
    """Whether a pronoun or "this"-like word is left that nothing in the text resolves."""
    toks = _tokens(text)
    for i, t in enumerate(toks):
        if t.low in _UNRESOLVED or t.low in _DEMONSTRATIVES:
            return True
        if i == 0 and t.low == "that":
            return True
    return False


_CODE_WORDS = _set("if elif else for while try except finally with def class return yield import "
                   "from raise assert del pass break continue global nonlocal lambda async await "
                   "var let const function public private static void int str bool none true "
                   "false null self this")


def _prose_line(line: str) -> bool:
    words = re.findall(r"[^\W\d_]+", line)
    if not words or words[0].lower() in _CODE_WORDS or (line.endswith(":") and len(words) <= 6):
        return False
    if re.match(r"^\w+\s*:\s*\w", line) or re.search(r"\S\s+#\s", line):
        return False  # "size: int  # in bytes"
    return len(words) >= 3 and not re.search(r"[(){}\[\]=<>|`]|:\s*\w+$|\w\.\w+\(", line) and \
        sum(len(w) for w in words) >= 0.7 * len(line.replace(" ", ""))


_CODE_LINE = re.compile(r"^\s*(?:def|class|import|from|return|if|elif|else|for|while|try|except|"
                        r"with|raise|yield|async|await|@\w|#|//|/\*|\*|\}|\{)|[:({\[,]\s*$|^\s{4,}")


def _code_like(text: str) -> bool:
    """Source code, paths, markup: no sentence to ask about."""
    letters = sum(c.isalpha() for c in text)
    visible = sum(not c.isspace() for c in text) or 1
    return letters / visible < 0.7 or "```" in text or bool(re.search(
        r"[{}=<>]|\(\)|^\s*(?:def|class|import|return|from|var|let|const|function)\b", text))


def _informative(unit: _Unit) -> bool:
    if unit.kind == "record":
        return True
    if _code_like(unit.text):
        return False
    if unit.kind == "item":
        return bool(re.search(r"[^\W\d_]", _item_body(unit)))
    if unit.kind != "sentence" or unit.text.endswith("?"):
        return False
    return len(re.findall(r"[^\W_]+", unit.text)) >= 4


def _ctx_name(context: str) -> str:
    """How a fallback question names where a sentence comes from: "Guide (Install)"; a long
    heading is quoted: 'the "MLX runs on Linux" section of Notes'."""
    parts = [p.strip() for p in context.split(" > ") if p.strip()]
    if not parts:
        return ""
    first, last = parts[0], parts[-1]
    words = last.split()
    if (len(words) > 4 or re.search(r"[,;:()]", last) or words[0].lower() in _WH
            or any(w.islower() and w not in _CONNECTORS for w in words[1:])):
        return f'the section "{last}"' + (f" of {first}" if len(parts) > 1 and
                                           _words_of(first) <= 4 else "")
    return last if len(parts) == 1 else f"{first} ({last})"


def _sentence_answer(text: str) -> str:
    text = _cap_first(" ".join(text.split()).rstrip(" :;,"))
    return text if text.endswith((".", "!")) else text + "."


def _key_np(text: str, names: _Names, known: set[str]) -> str:
    """The phrase a fallback question asks about: the most mentioned name, else a date, else
    the subject or first noun phrase."""
    toks = _tokens(text)
    found = []
    for start, end, _ in _name_runs(toks, known):
        ent = names.get(_span(text, toks[start:end]))
        if ent is not None:
            found.append(ent)
    if found:
        return max(found, key=lambda e: (e.count + e.subj, -e.first)).surface()
    m = _DATE_RE.search(text)
    if m:
        return m.group()
    v = _first_verb(toks)
    if 0 < v <= 5 and all(t.word for t in toks[:v]) and toks[0].low in ("the", "a", "an") and \
            not any(t.low in _PRONOUNS for t in toks[:v]):
        np = _span(text, toks[:v])
        return np[:1].lower() + np[1:]
    for i, t in enumerate(toks):
        if t.low in ("the", "a", "an") or (t.low in _NUMBER_WORDS and i) or t.text.isdigit():
            words: list[str] = []
            if t.low not in ("the", "a", "an") and (
                    i + 1 >= len(toks) or toks[i + 1].low in _VERB_BASES
                    or not toks[i + 1].low.endswith("s")):
                continue  # "five enter free": a number, not a count of things
            for u in toks[i + 1:i + 4]:
                if not u.word or u.low in _STOPWORDS or u.low in _PREPS or _s_base(u.low) or (
                        _ed_base(u.low) and words):
                    break
                words.append(u.text)
            if words:
                return f"{t.low} {' '.join(words)}"
    return ""


# Step 1: direct facts -------------------------------------------------------------------------


def direct_pairs(text: str, *, context: str | None = None) -> list[Pair]:
    """Fronted questions about each factual sentence, each answered by the fact restated with
    its subject named; lists, "key: value" records and an honest fallback for every informative
    sentence no rule understood. `context` (heading path or title) names the subject when the
    text does not."""
    a = _analyse_chunk(text, context)
    pairs: list[Pair] = []
    leads = {u.lead for u in a.units if u.kind == "item" and u.lead}
    for i, unit in enumerate(a.units):
        if unit.text not in leads:  # a list's lead-in is asked with its items
            pairs.extend(ask.pair() for ask in a.asks[i] if ask.kind == "direct")
        if unit.kind in ("sentence", "item"):
            pairs.extend(_imperative_pairs(a.resolved[i], unit.text))
    pairs.extend(_list_pairs(a))
    pairs.extend(_record_pairs(a))
    pairs = _checked(pairs, a.source)
    covered = "\n".join(p.evidence for p in pairs)
    for i, unit in enumerate(a.units):
        if _informative(unit) and unit.text not in covered:
            fallback = _fallback(a, i)
            if fallback is not None:
                pairs.extend(_checked([fallback], a.source))
    return _dedup(pairs)


def _imperative_pairs(resolved: str, evidence: str) -> list[Pair]:
    """"Run make setup to install the app." -> "How do you install the app?"."""
    s = resolved.strip().rstrip(".!")
    m = re.match(r"^To (?P<goal>[a-z]+\b[^,]*),\s+(?P<do>[a-z]+\b.+)$", s)
    if m and m["goal"].split()[0] in _VERB_BASES and m["do"].split()[0] in _VERB_BASES:
        return [Pair(_q("How do you", m["goal"]), _sentence_answer(s), "direct", evidence)]
    m = re.match(r"^(?:If|When) (?P<cond>[^,]{3,80}), (?P<do>[a-z]+\b.+)$", s)
    if m and m["do"].split()[0] in _VERB_BASES and not _dangling(m["cond"]):
        return [Pair(_q("What should you do if", m["cond"]), _sentence_answer(s), "direct",
                     evidence)]
    m = re.match(r"^(?P<verb>[A-Z][a-z]+) (?P<what>.+?) (?:in order )?to (?P<goal>[a-z]+\b.+)$", s)
    if (m and m["verb"].lower() in _VERB_BASES and m["goal"].split()[0] in _VERB_BASES
            and m["verb"] not in _FUNCTION_CAPS):
        answer = f"To {m['goal']}, {m['verb'].lower()} {m['what']}."
        return [Pair(_q("How do you", m["goal"]), answer, "direct", evidence)]
    return []


def _list_pairs(a: _Analysis) -> list[Pair]:
    """One pair per list: its lead-in sentence restated with the items ("The Lantern Museum
    holds three collections: maps, ship lanterns and letters.")."""
    out: list[Pair] = []
    groups: list[list[int]] = []
    for i, unit in enumerate(a.units):
        if unit.kind != "item":
            continue
        prev = groups[-1] if groups else None
        if prev and prev[-1] == i - 1 and a.units[prev[-1]].lead == unit.lead:
            prev.append(i)
        else:
            groups.append([i])
    for group in groups:
        items = [a.resolved[i].rstrip(" .;,") for i in group]
        if len(items) < 2:
            continue
        joined = ", ".join(items[:-1]) + " and " + items[-1]
        lines = [a.units[i].text for i in group]
        lead = a.units[group[0]].lead
        if lead:
            at = next((k for k, u in enumerate(a.units) if u.text == lead), None)
            resolved_lead = a.resolved[at] if at is not None else lead
            clauses = _Parser(a.names, a.known).clause(
                _cap_first(resolved_lead.rstrip(" :")), lead, 0)
            asker = _Asker(a.names, a.known)
            if not clauses:
                continue
            cl = clauses[-1]
            answer = f"{resolved_lead.rstrip(' :')}: {joined}."
            evidence = "\n".join([lead, *lines])
            obj = re.sub(r"^(?:these|the following|following|the)\s+", "", cl.obj)
            m = _COUNT.match(obj)
            noun = m["noun"] if m else obj
            if cl.form == "active" and noun and _words_of(noun) <= 3 and cl.main != "have":
                verb = _norm_space(f"{cl.rest} {cl.particle}")
                out.append(Pair(_q("Which", noun, cl.aux, asker.mid(cl), verb), answer, "direct",
                                evidence))
                if m:
                    out.append(Pair(_q("How many", noun, cl.aux, asker.mid(cl), verb), answer,
                                    "direct", evidence))
            elif cl.form == "active" and cl.main == "have" and noun and _words_of(noun) <= 3:
                out.append(Pair(_q("Which", noun, cl.aux, asker.mid(cl), "have"), answer,
                                "direct", evidence))
            continue
        parts = [p.strip() for p in a.units[group[0]].context.split(" > ") if p.strip()]
        if len(parts) >= 2 and parts[-1].lower().endswith("s") and _words_of(parts[-1]) <= 3:
            what = parts[-1].lower()
            out.append(Pair(_q("What are the", what, "of", parts[-2]),
                            f"The {what} of {parts[-2]} are {joined}.", "direct",
                            "\n".join(lines)))
    return out


def _record_pairs(a: _Analysis) -> list[Pair]:
    """"Name: Ada; City: London" -> "What is Ada's city?" -> "Ada's city is London."."""
    out: list[Pair] = []
    groups: dict[str, str] = {}  # JSON element prefix -> its name
    for unit in a.units:
        if unit.kind == "record" and len(unit.fields) == 1:
            key, value = unit.fields[0]
            m = re.match(r"^(?P<prefix>.+)\.(?P<last>name|title|id|label|username|full_name)$",
                         key, re.I)
            if m and _words_of(value) <= 6:
                groups.setdefault(m["prefix"], value)
    ctx = a.context.split(" > ")[-1].strip() if a.context else ""
    for unit in a.units:
        if unit.kind != "record":
            continue
        fields_ = unit.fields
        if len(fields_) >= 2:
            k0, v0 = fields_[0]
            owner = v0 if not _is_number(v0) and _words_of(v0) <= 6 and not re.search(
                r"[,;:()]", v0) else ""
            for key, value in fields_[1:]:
                pair = _field_pair(owner, "" if owner else f"{_key_words(k0)} {v0}", key,
                                   value, unit.text)
                if pair is not None:
                    out.append(pair)
            continue
        key, value = fields_[0]
        m = re.match(r"^(?P<prefix>.+)\.(?P<rest>[^.]+)$", key)
        owner = groups.get(m["prefix"], "") if m else ""
        if owner and m and value != owner:
            pair = _field_pair(owner, "", m["rest"], value, unit.text)
        elif owner:
            continue
        else:
            pair = _field_pair("", ctx, key, value, unit.text)
        if pair is not None:
            out.append(pair)
    return out


def _field_pair(owner: str, of: str, key: str, value: str, evidence: str) -> Pair | None:
    """One field of a record as a pair: about `owner` ("Ada's city") or, without one, about the
    key "of" something ("the city of staff 7")."""
    words = _key_words(key)
    if not words or not value:
        return None
    date = bool(_DATE_NP.match(value) or re.fullmatch(r"\d{4}(?:-\d\d){0,2}", value))
    prep = "in" if re.fullmatch(rf"(?:{_MONTH_RE}\s+)?{_YEAR_RE}", value) else "on"
    if owner and date and words in ("born", "birth", "birthday", "date of birth", "birth date",
                                    "year of birth", "birth year"):
        return Pair(_q("When was", owner, "born"), f"{owner} was born {prep} {value}.", "direct",
                    evidence)
    if owner and date and words == "died":
        return Pair(_q("When did", owner, "die"), f"{owner} died {prep} {value}.", "direct",
                    evidence)
    if " " not in words and _participle(words):
        if owner and date:
            return Pair(_q("When was", owner, words), f"{owner} was {words} {prep} {value}.",
                        "direct", evidence)
        return None  # "Grey Heron's launched" is not English
    person = (_Ent(value).personish and not re.search(r"\d", value)
              and words.split()[-1] not in _PLACE_TYPES | {"address", "location", "place", "home"})
    if owner:
        poss = owner + ("'" if owner.endswith("s") else "'s")
        if words == "age" and _is_number(value):
            return Pair(_q("How old is", owner), f"{poss} age is {value}.", "direct", evidence)
        return Pair(_q("Who" if person else "What", "is", poss, words),
                    f"{poss} {words} is {value}.", "direct", evidence)
    if of:
        return Pair(_q("Who" if person else "What", "is the", words, "of", of),
                    f"The {words} of {of} is {value}.", "direct", evidence)
    return Pair(_q("What is the", words), f"The {words} is {value}.", "direct", evidence)


def _key_words(key: str) -> str:
    """A record key as words: "date_of_birth" -> "date of birth", "server.port" -> "server
    port", "City" -> "city" (acronyms stay)."""
    key = re.sub(r"\[[^\]]*\]", " ", key)
    key = re.sub(r"([a-z])([A-Z])", r"\1 \2", key)
    words = [w for w in re.split(r"[\s._\-]+", key) if w]
    return " ".join(w if (w.isupper() and len(w) <= 5) else w.lower() for w in words)


def _fallback(a: _Analysis, i: int) -> Pair | None:
    """The last resort for an informative sentence: "What does <context> say about <phrase>?"
    answered by the sentence, pronouns resolved; None when one is left unresolved."""
    unit = a.units[i]
    resolved = a.resolved[i]
    if unit.kind == "record":
        return None
    if _dangling(resolved):
        return None
    if unit.kind == "item" and unit.lead:
        return None
    np = _key_np(resolved, a.names, a.known)
    if not np:
        toks = _tokens(resolved)
        v = _first_verb(toks)
        if 0 < v <= 5 and all(t.word for t in toks[:v]) and not any(
                t.low in _PRONOUNS for t in toks[:v]):
            np = _span(resolved, toks[:v])
            np = np if np.split()[0] in a.known else np[:1].lower() + np[1:]
        elif unit.kind == "item" and _words_of(resolved) <= 6:
            np = resolved.rstrip(" .;,")
    words = np.split()
    while words and (words[-1].lower() in _PREPS or words[-1].lower() in _STOPWORDS):
        words.pop()  # "loss on" -> "loss"
    np = " ".join(words)
    where = _ctx_name(unit.context)
    if where and np and _key(np) in (_key(where), _key(unit.context.split(" > ")[-1])):
        where = ""  # not "What does Lantern Museum say about the Lantern Museum?"
    if where and np:
        question = _q("What does", where, "say about", np)
    elif np:
        question = _q("What is known about", np)
    else:
        return None
    return Pair(question, _sentence_answer(resolved), "direct", unit.text)


# Checks ---------------------------------------------------------------------------------------

_META = re.compile(
    r"\b(?:the|this|that)\s+(?:text|passage|document|article|paragraph|excerpt|chunk|snippet|"
    r"context|above|following|story|author(?!\s+of))\b|\bfill in the blank|_{2,}|"
    r"\btell me (?:a|some|one) facts?\b|\bas mentioned\b|\baccording to the\b|\babove\b",
    re.I,
)
_GENERIC = _set("thing things fact facts information something one text passage document "
                "answer question topic detail details part section way lot kind type stuff item "
                "items know known tell say said")
_QUESTION_START = _set(
    "what who whom whose when where which how why in since until for from on at to with of "
    "is are was were do does did has have had can could will would should may"
)


def self_contained(question: str) -> bool:
    """Whether a question stands on its own: fronted, ends with "?", names its subject, and
    says nothing of "the text", leaves no pronoun without a name before it, is no cloze."""
    q = question.strip()
    if not q.endswith("?") or not q[:1].isupper() or "?" in q[:-1]:
        return False
    if _META.search(q):
        return False
    toks = _tokens(q[:-1])
    words = [t for t in toks if t.word]
    if len(words) < 3 or len(words) > 40:
        return False
    first = words[0].low
    if first not in _QUESTION_START:
        return False
    if first in _PREPS and (len(words) < 2 or words[1].low not in _WH):
        return False
    if first not in _WH and first not in _PREPS and first not in ("how",):
        pass  # a yes/no question: allowed, the steps here do not write them
    named_before = False
    for k, t in enumerate(toks):
        if k and t.word and (t.cap or t.text[:1].isdigit()):
            named_before = True
        if t.text[:1].isdigit():
            named_before = True
        if t.low in _DEMONSTRATIVES:
            return False
        if t.low in _UNRESOLVED and not named_before:
            return False
    if any(t.low in _WH for t in words[1:]) and first not in _WH and first not in _PREPS:
        return False  # "X was built in what year?": in situ
    content = [t for t in words[1:] if t.low not in _STOPWORDS and t.low not in _GENERIC
               and t.low not in _WH]
    has_name = any(t.cap for t in words[1:]) or bool(re.search(r"\d", q))
    return has_name or len(content) >= 2


_PLURAL_ES = re.compile(r"(?:ches|shes|sses|xes|zes)$")


def _norm_word(word: str) -> str:
    w = word.lower().replace("’", "'")
    w = re.sub(r"'s?$", "", w)
    if len(w) > 3 and w.endswith("ies"):
        return w[:-3] + "y"
    if _PLURAL_ES.search(w):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


@lru_cache(maxsize=8192)
def _word_forms(word: str) -> frozenset[str]:
    low = word.lower()
    forms = {_norm_word(low), low}
    base = _ed_base(low) or _s_base(low) or _ing_base(low)
    if base:
        forms.add(base)
    return frozenset(forms)


def _canon_number(tok: str) -> str:
    return tok.replace(",", "").lstrip("$€£").rstrip("%")


def supported(answer: str, source: str) -> bool:
    """Whether every content word of `answer` (names, numbers, key nouns and verbs) occurs in
    `source`, compared without case, punctuation, plural or possessive endings; numbers must
    match exactly."""
    src_words, src_numbers = _source_index(source)
    content = 0
    for t in _tokens(answer):
        if t.text[:1].isdigit() or (t.text[:1] in "$€£" and len(t.text) > 1):
            if _canon_number(t.text) not in src_numbers:
                return False
            content += 1
            continue
        if not t.word or t.low in _STOPWORDS or t.text in ("'s", "’s"):
            continue
        if not _word_forms(t.text) & src_words and not (
                "-" in t.text and all(_word_forms(p) & src_words for p in t.text.split("-") if p)):
            return False
        content += 1
    return content > 0


@lru_cache(maxsize=256)
def _source_index(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """The word forms and the numbers of a source text, for `supported`."""
    words: set[str] = set()
    numbers: set[str] = set()
    for t in _tokens(source):
        if t.text[:1].isdigit() or t.text[:1] in "$€£":
            numbers.add(_canon_number(t.text))
            numbers.add(_canon_number(re.sub(r"(?:st|nd|rd|th|s)$", "", t.text)))
        elif t.word:
            words |= _word_forms(t.text)
            for part in t.text.split("-"):
                if part:
                    words |= _word_forms(part)
    return frozenset(words), frozenset(numbers)


def _checked(pairs: Iterable[Pair], source: str) -> list[Pair]:
    return [p for p in pairs if self_contained(p.question) and p.answer.endswith(".")
            and not _dangling(p.answer) and supported(p.answer, source)]


def _dedup(pairs: Iterable[Pair], seen: set[str] | None = None) -> list[Pair]:
    seen = set() if seen is None else seen
    out = []
    for p in pairs:
        k = question_key(p.question)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


# Step 2: indirect facts -----------------------------------------------------------------------


def indirect_pairs(text: str, *, context: str | None = None) -> list[Pair]:
    """Facts implied by two sentences of the chunk: a question about one name asked through
    another fact about it ("When was the bridge that Mara Quill designed built?"), the place a
    thing is in through where that place lies ("In which country was Mara Quill born?"), and
    relations read backwards ("Whose sister is Ilse Quill?")."""
    a = _analyse_chunk(text, context)
    asks = [ask for unit_asks in a.asks for ask in unit_asks]
    pairs = _hops(asks, a.descs, a.names.by_key.get, "indirect", limit=1)
    pairs += _location_chains(asks, a.descs, a.names.by_key.get)
    pairs += _whose(a)
    return _dedup(_checked(pairs, a.source))


def _described(ent: _Ent | None, desc: _Desc) -> str:
    """"the civil engineer who designed the Hollow Bridge"; "" when the name has no type to
    stand in for it."""
    if ent is None:
        return ""
    if desc.noun:
        return desc.q
    type_ = ent.type if ent.type else ("person" if ent.personish else "")
    if type_ and type_.split()[-1] in desc.q.split():
        type_ = "person" if ent.personish else ""  # not "the capital that is the capital of"
    return f"the {type_} {desc.q}" if type_ else ""


def _hops(asks: Sequence[_Ask], descs: Sequence[_Desc], lookup: Callable[[str], _Ent | None],
          kind: str, limit: int = 2) -> list[Pair]:
    out: list[Pair] = []
    for ask in asks:
        if not ask.hop or not ask.slot:
            continue
        used = 0
        for d in descs:
            if d.key != ask.slot or d.evidence == ask.evidence:
                continue
            if ask.target and ask.target.lower() in d.q.lower():
                continue  # the description would give the answer away
            named = set(re.findall(r"\b[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*", d.q))
            if any(n in ask.question for n in named):
                continue  # "the person who sold Nimbus Labs found Nimbus Labs": a loop
            q_np = _described(lookup(d.key), d)
            if not q_np:
                continue
            out.append(Pair(_fill(ask.question, q_np), _fill(ask.bare or ask.answer, ask.name, d.a),
                            kind,
                            f"{d.evidence}\n{ask.evidence}"))
            used += 1
            if used >= limit:
                break
    return out


def _location_chains(asks: Sequence[_Ask], descs: Sequence[_Desc],
                     lookup: Callable[[str], _Ent | None]) -> list[Pair]:
    out: list[Pair] = []
    for ask in asks:
        if not ask.question.startswith("Where ") or not ask.target:
            continue
        place = lookup(_key(ask.target))
        if place is None:
            continue
        for d in descs:
            if d.key != place.key or not d.containment or d.evidence == ask.evidence:
                continue
            zone = lookup(d.containment)
            if zone is None or not zone.type or zone.kind != "place":
                continue
            question = _fill(f"In which {zone.type} {ask.question[len('Where '):]}", ask.name)
            answer = _fill(ask.answer, ask.name)
            at = answer.find(ask.target)
            if at < 0:
                continue
            end = at + len(ask.target)
            app = f", {d.a}" + ("" if answer[end:] in (".", "") else ",")
            out.append(Pair(question, answer[:end] + app + answer[end:], "indirect",
                            f"{d.evidence}\n{ask.evidence}"))
            break
    return out


def _whose(a: _Analysis) -> list[Pair]:
    """"Ilse Quill is Mara Quill's sister." -> "Whose sister is Ilse Quill?"."""
    out: list[Pair] = []
    rels = "|".join(sorted(_RELATION_NOUNS))
    for unit_clauses in a.clauses:
        for cl in unit_clauses:
            if cl.form != "copula" or cl.pps:
                continue
            m = re.fullmatch(rf"(?P<owner>.+?)['’]s (?P<rel>{rels})", cl.obj)
            if m and cl.ent is not None:
                name, owner, rel = cl.subj, m["owner"], m["rel"]
            else:
                m = re.fullmatch(rf"(?P<owner>.+?)['’]s (?P<rel>{rels})", cl.subj)
                if not m or a.names.get(cl.obj) is None:
                    continue
                name, owner, rel = cl.obj, m["owner"], m["rel"]
            out.append(Pair(_q("Whose", rel, cl.aux, name), f"{name} {cl.aux} {owner}'s {rel}.",
                            "indirect", cl.evidence))
    return out


# Step 3: consolidation ------------------------------------------------------------------------


def consolidated_pairs(pairs: list[Pair]) -> list[Pair]:
    """2-3 direct pairs about one subject merged into one multi-fact question ("When was the
    Hollow Bridge built and who designed it?" -> "The Hollow Bridge was built in 1987 and was
    designed by Mara Quill.")."""
    groups: dict[str, list[tuple[str, str, Pair]]] = {}
    for p in pairs:
        if p.kind != "direct" or _FALLBACK.match(p.question):
            continue
        split = _subject_split(p)
        if split is None:
            continue
        subject, pred = split
        items = groups.setdefault(_key(subject), [])
        words = _content_words(pred)
        if any(words <= _content_words(it[1]) or _content_words(it[1]) <= words for it in items):
            continue  # the same fact asked another way
        items.append((subject, pred, p))
    out: list[Pair] = []
    for items in groups.values():
        n = len(items)
        if n < 2:
            continue
        if not _it_subject(items):  # a person's name is repeated: two facts read well, not three
            out.extend(_merge(items[k:k + 2]) for k in range(0, n - 1, 2))
            continue
        sizes = [3] * (n // 3) + ([2] if n % 3 == 2 else [])
        if n % 3 == 1:
            sizes = [3] * (n // 3 - 1) + [2, 2] if n >= 4 else []
        at = 0
        for size in sizes:
            out.append(_merge(items[at:at + size]))
            at += size
    return out


def _subject_split(p: Pair) -> tuple[str, str] | None:
    """(subject, predicate) of an answer whose subject the question names."""
    answer = p.answer.rstrip(".")
    if "\n" in answer or re.search(r",\s+(?:who|which)\b", answer) or ". " in answer:
        return None
    words = answer.split()
    question = p.question.lower()
    for n in range(min(8, len(words) - 1), 0, -1):
        subject = " ".join(words[:n])
        if subject.endswith(",") or all(w.lower() in _STOPWORDS for w in words[:n]):
            continue
        if not re.search(rf"(?<!\w){re.escape(subject.lower())}(?!\w)", question):
            continue
        verb = words[n].lower()
        if verb in _BE or verb in _HAVE or verb in _DO or verb in _MODALS or _ed_base(verb) \
                or _s_base(verb):
            return subject, " ".join(words[n:])
        return None
    return None


_FALLBACK = re.compile(r"^What (?:does .+ say about|is known about) ")


def _content_words(text: str) -> set[str]:
    return {_norm_word(w) for w in re.findall(r"[^\W_]+", text) if w.lower() not in _STOPWORDS}


def _mid_subject(subject: str) -> str:
    first = subject.split()[0]
    return subject[0].lower() + subject[1:] if first in ("The", "A", "An") else subject


def _it_subject(items: Sequence[tuple[str, str, Pair]]) -> bool:
    """Whether later questions may call the subject "it": a thing, place or organisation."""
    subject = items[0][0]
    mid = _mid_subject(subject)
    return mid.startswith("the ") or _name_kind(subject) in ("place", "org", "thing") or any(
        it[2].question.startswith(("What is ", "What was ")) and
        it[2].question[:-1].endswith(mid) for it in items)


def _merge(items: Sequence[tuple[str, str, Pair]]) -> Pair:
    subject = items[0][0]
    mid = _mid_subject(subject)
    thing = _it_subject(items)
    questions = [it[2].question[:-1] for it in items]
    parts = [questions[0]]
    for q in questions[1:]:
        if thing:
            q = re.sub(rf"\bthe ([a-z]+) of {re.escape(mid)}(?!\w)", r"its \1", q, flags=re.I)
            q = re.sub(rf"(?<!\w){re.escape(mid)}['’]s\b", "its", q, flags=re.I)
            q = re.sub(rf"(?<!\w){re.escape(mid)}(?!\w)", "it", q, flags=re.I)
        parts.append(q[0].lower() + q[1:])
    joiner = ", and " if len(parts) > 2 else " and "
    question = ", ".join(parts[:-1]) + joiner + parts[-1] + "?"
    preds = [it[1] for it in items]
    answer = f"{subject} " + ", ".join(preds[:-1]) + joiner + preds[-1] + "."
    evidence = "\n".join(dict.fromkeys(it[2].evidence for it in items))
    return Pair(question, answer, "consolidated", evidence)


# Step 4: entity surfacing ---------------------------------------------------------------------


def entity_pairs(text: str, *, context: str | None = None) -> list[Pair]:
    """Reverse questions that describe a name and are answered with it ("Which civil engineer
    designed the Hollow Bridge?", "What is the capital of Vell?")."""
    a = _analyse_chunk(text, context)
    pairs = [ask.pair() for unit_asks in a.asks for ask in unit_asks if ask.kind == "entity"]
    return _dedup(_checked(pairs, a.source))


# Step 5: cross-document questions -------------------------------------------------------------


def cross_pairs(
    chunks: Sequence[tuple[int, str]], *, contexts: Mapping[int, str] | None = None
) -> list[tuple[Pair, tuple[int, ...]]]:
    """Questions over two chunks that share a name, whose answer needs a fact from each ("Where
    was the civil engineer who designed the Hollow Bridge born?"), with both chunks' ids."""
    contexts = contexts or {}
    analyses = [(cid, _analyse_chunk(text, contexts.get(cid))) for cid, text in chunks]
    best: dict[str, _Ent] = {}
    for _, a in analyses:
        for ent in a.names.all():
            have = best.get(ent.key)
            if have is None or ent.strength > have.strength or (
                    ent.kind == "person" and have.kind is None):
                best[ent.key] = ent
    out: list[tuple[Pair, tuple[int, ...]]] = []
    seen: set[str] = set()
    for ia, (id_a, a) in enumerate(analyses):
        for ib, (id_b, b) in enumerate(analyses):
            if ia == ib or id_a == id_b:
                continue
            shared = set(a.names.by_key) & set(b.names.by_key)
            if not shared:
                continue
            asks = [x for unit_asks in b.asks for x in unit_asks if x.slot in shared]
            descs = [d for d in a.descs if d.key in shared
                     and d.evidence not in b.text]  # a fact both chunks hold is not cross
            pairs = _hops(asks, descs, best.get, "cross", limit=1)
            where = [x for unit_asks in b.asks for x in unit_asks if x.question.startswith("Where")]
            pairs += [p for p in _location_chains(where, descs, best.get)]
            source = f"{a.source}\n{b.source}"
            ids = (id_a, id_b) if ia < ib else (id_b, id_a)
            for p in _dedup(_checked(pairs, source), seen)[:6]:
                out.append((p, ids))
    return out


# All per-chunk steps --------------------------------------------------------------------------


def derive(text: str, *, context: str | None = None) -> dict[str, list[Pair]]:
    """The four per-chunk steps in order, each pair self-contained and supported by the text,
    no question twice; every informative sentence is the evidence of at least one pair."""
    source = f"{context}\n{text}" if context else text
    steps = {
        "direct": direct_pairs(text, context=context),
        "indirect": indirect_pairs(text, context=context),
    }
    steps["consolidated"] = _checked(consolidated_pairs(steps["direct"]), source)
    steps["entity"] = entity_pairs(text, context=context)
    seen: set[str] = set()
    return {name: _dedup(pairs, seen) for name, pairs in steps.items()}
