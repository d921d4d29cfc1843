"""Seeded English arithmetic word problems with worked solutions: the CPU demo of the `dataset` family.

A problem tells a short story about one quantity: a start sentence ("Mia has 12 stickers."), one
sentence per operation ("She buys 7 more stickers.", "She sorts them into 3 equal piles and keeps one
pile."), and a question. Its solution has one line per operation, each applying the operation to the
previous result and the sentence's number, then the answer after ``####``::

    12 + 7 = 19
    19 - 4 = 15
    15 / 3 = 5
    #### 5

``difficulty`` is the number of operations (1-6). The format is built to be learned by a 1-3M
parameter model from scratch: numbers stay small (operands 2-25, every result 1-99, divisions exact),
the numbers appear in the question in the order the solution uses them, and a harder problem is the
same story with more sentences and more lines of the same kind, so a model seeded on levels 1-3 can
extend to 4-6. Each template is a story (its own entities and wording for the same four operations);
24 are used for training and 8 are held out.

Files (`write_word_problems`): ``train.jsonl`` (training templates, levels 1-6, balanced over template
and level), ``id.jsonl`` (training templates, levels 1-3), ``ood_steps.jsonl`` (training templates,
levels 4-6), ``ood_templates.jsonl`` (held-out templates, levels 1-3). No question appears twice
across the four files. Fields: question, answer, solution, difficulty, template.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from system.jsonio import write_jsonl

MAX_LEVEL = 6
SEED_LEVELS = (1, 2, 3)
STEP_LEVELS = (4, 5, 6)
MAX_VALUE = 99
SPLIT_FILES = {"train": "train.jsonl", "id": "id.jsonl", "ood_steps": "ood_steps.jsonl",
               "ood_templates": "ood_templates.jsonl"}


@dataclass(frozen=True)
class Template:
    """One story. Placeholders: {name}, {P}/{p} (She/she), {obj} (her), {pos}/{Pos} (her/Her),
    {refl} (herself) and {n} (the sentence's number)."""

    name: str
    start: str
    add: str
    sub: str
    mul: str
    div: str
    question: str


@dataclass(frozen=True)
class WordProblem:
    question: str
    answer: str
    solution: str
    difficulty: int
    template: str

    def row(self) -> dict[str, object]:
        return asdict(self)


# fmt: off
TRAIN_TEMPLATES: tuple[Template, ...] = (
    Template("bakery", "{name} bakes {n} cupcakes for a fair.", "{P} bakes {n} more cupcakes.",
             "{P} sells {n} cupcakes.", "A big order leaves {obj} with {n} times as many cupcakes.",
             "{P} packs the cupcakes equally into {n} boxes and keeps one box.",
             "How many cupcakes does {name} have now?"),
    Template("marbles", "{name} has {n} marbles.", "{P} wins {n} more marbles at school.",
             "{P} loses {n} marbles in the grass.", "{P} trades and ends up with {n} times as many marbles.",
             "{P} splits the marbles into {n} equal bags and keeps one bag.",
             "How many marbles does {name} have now?"),
    Template("library", "A library shelf holds {n} books.", "The librarian puts {n} more books on the shelf.",
             "Readers borrow {n} books from the shelf.",
             "A donation makes the number of books on the shelf {n} times as large.",
             "The books are shared equally among {n} schools, and the shelf keeps one share.",
             "How many books are on the shelf now?"),
    Template("orchard", "{name} picks {n} apples in the orchard.", "{P} picks {n} more apples.",
             "{P} eats {n} of the apples.", "{P} finds a full tree and now has {n} times as many apples.",
             "{P} puts the apples equally into {n} baskets and keeps one basket.",
             "How many apples does {name} have now?"),
    Template("pirate", "Captain {name} has {n} gold coins.", "{P} digs up {n} more gold coins.",
             "{P} pays {n} gold coins to the crew.", "A lucky bet leaves {obj} with {n} times as many gold coins.",
             "{P} buries the coins equally in {n} chests and keeps only one chest.",
             "How many gold coins does Captain {name} have now?"),
    Template("beach", "{name} collects {n} shells on the beach.", "{P} finds {n} more shells near the rocks.",
             "A wave washes {n} shells away.", "{P} keeps looking until {p} has {n} times as many shells.",
             "{P} sorts the shells into {n} equal piles and keeps one pile.",
             "How many shells does {name} have now?"),
    Template("cards", "{name} owns {n} trading cards.", "{P} buys a pack with {n} more cards.",
             "{P} trades away {n} cards.", "{Pos} collection grows to {n} times as many cards.",
             "{P} splits the cards equally into {n} albums and sells all but one album.",
             "How many trading cards does {name} own now?"),
    Template("aquarium", "An aquarium has {n} fish.", "The keeper adds {n} more fish.",
             "The keeper moves {n} fish to another tank.", "The fish breed until there are {n} times as many.",
             "The fish are shared equally among {n} tanks, and this aquarium keeps one share.",
             "How many fish are in the aquarium now?"),
    Template("hens", "{name}'s hens lay {n} eggs.", "The next morning they lay {n} more eggs.",
             "{name} uses {n} eggs for a cake.", "A neighbour brings enough to make {n} times as many eggs.",
             "{P} packs the eggs equally into {n} cartons and keeps one carton.",
             "How many eggs does {name} have now?"),
    Template("classroom", "A teacher has {n} pencils.", "The school sends {n} more pencils.",
             "The teacher hands out {n} pencils.", "After a big order the teacher has {n} times as many pencils.",
             "The pencils are split equally among {n} classes, and the teacher keeps one share.",
             "How many pencils does the teacher have now?"),
    Template("stamps", "{name} has {n} stamps in an album.", "{P} gets {n} more stamps from letters.",
             "{P} gives {n} stamps to {pos} sister.", "{P} inherits a collection and now has {n} times as many stamps.",
             "{P} divides the stamps equally into {n} albums and keeps one album.",
             "How many stamps does {name} have now?"),
    Template("garden", "{name} plants {n} tulips.", "{P} plants {n} more tulips.",
             "Rabbits eat {n} of the tulips.", "The tulips spread until there are {n} times as many.",
             "{P} cuts the tulips, ties them into {n} equal bunches and keeps one bunch.",
             "How many tulips does {name} have now?"),
    Template("toy_cars", "{name} has {n} toy cars.", "For {pos} birthday {p} gets {n} more toy cars.",
             "{P} gives {n} toy cars to {pos} brother.", "{P} builds the collection up to {n} times as many toy cars.",
             "{P} lines the cars up in {n} equal rows and keeps one row.",
             "How many toy cars does {name} have now?"),
    Template("beads", "{name} has {n} beads for necklaces.", "{P} buys {n} more beads.",
             "{P} drops {n} beads and cannot find them.", "{P} orders more and ends up with {n} times as many beads.",
             "{P} threads the beads equally onto {n} necklaces and keeps one necklace.",
             "How many beads does {name} have now?"),
    Template("recycling", "{name} collects {n} bottles for recycling.", "{P} collects {n} more bottles at the park.",
             "{P} returns {n} bottles to the shop.", "The whole street joins in, and soon there are {n} times as many bottles.",
             "The bottles are sorted equally into {n} bins, and {name} takes one bin.",
             "How many bottles does {name} have now?"),
    Template("seeds", "A packet holds {n} seeds.", "{name} pours in {n} more seeds.",
             "{name} sows {n} of the seeds.", "{name} saves seeds from the harvest, and the packet holds {n} times as many.",
             "{name} splits the seeds equally into {n} packets and keeps one packet.",
             "How many seeds are in {name}'s packet now?"),
    Template("playlist", "{name}'s playlist has {n} songs.", "{P} adds {n} more songs.",
             "{P} deletes {n} songs.", "{P} merges playlists and now has {n} times as many songs.",
             "{P} splits the songs equally into {n} playlists and keeps one of them.",
             "How many songs are on {name}'s playlist now?"),
    Template("photos", "An album holds {n} photos.", "{name} adds {n} more photos from a trip.",
             "{name} takes out {n} blurry photos.", "{name} prints copies until the album holds {n} times as many photos.",
             "{name} spreads the photos equally over {n} albums, and this album keeps one share.",
             "How many photos are in the album now?"),
    Template("game", "{name} scores {n} points in a game.", "{P} scores {n} more points.",
             "{P} loses {n} points for a foul.", "A bonus round makes {pos} score {n} times as large.",
             "A penalty divides {pos} score by {n}.",
             "How many points does {name} have now?"),
    Template("blocks", "{name} builds a tower of {n} blocks.", "{P} stacks {n} more blocks on top.",
             "{P} takes {n} blocks off the tower.", "{P} makes the tower {n} times as tall in blocks.",
             "{P} splits the tower into {n} equal towers and keeps one.",
             "How many blocks are in {name}'s tower now?"),
    Template("balloons", "{name} blows up {n} balloons for a party.", "{P} blows up {n} more balloons.",
             "{n} balloons pop.", "Friends bring more until there are {n} times as many balloons.",
             "The balloons are tied equally into {n} bunches, and {name} holds one bunch.",
             "How many balloons does {name} have now?"),
    Template("cookie_jar", "A jar has {n} cookies.", "{name} puts {n} more cookies in the jar.",
             "{name} eats {n} cookies from the jar.", "A neighbour refills it so the jar has {n} times as many cookies.",
             "The cookies are shared equally among {n} jars, and this jar keeps one share.",
             "How many cookies are in the jar now?"),
    Template("warehouse", "A warehouse stores {n} crates.", "A truck delivers {n} more crates.",
             "Workers ship out {n} crates.", "After a busy month the warehouse holds {n} times as many crates.",
             "The crates are split equally among {n} warehouses, and this one keeps one share.",
             "How many crates are in the warehouse now?"),
    Template("raffle", "{name} has {n} raffle tickets.", "{P} buys {n} more tickets.",
             "{P} gives {n} tickets to a friend.", "A prize gives {obj} {n} times as many tickets.",
             "{P} shares the tickets equally among {n} people, including {refl}.",
             "How many tickets does {name} have now?"),
)

HELDOUT_TEMPLATES: tuple[Template, ...] = (
    Template("spaceship", "The spaceship Nova carries {n} fuel cells.",
             "At the space station the crew loads {n} more fuel cells.", "The engines burn through {n} fuel cells.",
             "A supply drone brings the stock to {n} times as many fuel cells.",
             "The crew divides the fuel cells equally among {n} shuttles, and Nova keeps one share.",
             "How many fuel cells does Nova carry now?"),
    Template("zoo", "A zookeeper named {name} has {n} bananas.", "A farmer delivers {n} more bananas.",
             "The monkeys grab {n} bananas.", "By lunch the pile has grown to {n} times as many bananas.",
             "{name} hands the bananas out equally to {n} cages and keeps one cage's share.",
             "How many bananas does the zookeeper have now?"),
    Template("knitting", "{name} owns {n} balls of yarn.", "At the craft fair {p} buys {n} more balls of yarn.",
             "{P} knits {n} balls of yarn into a scarf.",
             "{Pos} aunt sends a box, and now {p} has {n} times as many balls of yarn.",
             "{P} divides the yarn equally into {n} bags and keeps one bag.",
             "How many balls of yarn does {name} own now?"),
    Template("chess_club", "A chess club has {n} members.", "{n} new players join the club.",
             "{n} members leave the club.", "After a tournament the club has {n} times as many members.",
             "The members form {n} equal teams, and only one team stays in the club.",
             "How many members does the club have now?"),
    Template("train", "A train leaves the station with {n} passengers.", "At the next stop {n} more passengers get on.",
             "At the bridge {n} passengers get off.", "During rush hour the train fills up to {n} times as many passengers.",
             "The passengers are split equally among {n} trains, and this train keeps one share.",
             "How many passengers are on the train now?"),
    Template("kitchen", "The chef peels {n} potatoes.", "The chef peels {n} more potatoes.",
             "{n} potatoes go into the soup.", "For a wedding the chef prepares {n} times as many potatoes.",
             "The chef divides the potatoes equally into {n} pots and keeps one pot on the stove.",
             "How many potatoes does the chef have now?"),
    Template("parking", "A parking lot holds {n} cars.", "{n} more cars drive in.", "{n} cars drive away.",
             "At the concert the lot fills with {n} times as many cars.",
             "The cars are spread equally over {n} lots, and this lot keeps one share.",
             "How many cars are in the parking lot now?"),
    Template("beekeeper", "{name} the beekeeper fills {n} jars of honey.", "{P} fills {n} more jars.",
             "{P} sells {n} jars at the market.", "A good summer gives {obj} {n} times as many jars.",
             "{P} packs the jars equally into {n} crates and keeps one crate.",
             "How many jars of honey does {name} have now?"),
)

PEOPLE: tuple[tuple[str, str], ...] = tuple((name, "she") for name in (
    "Mia", "Lena", "Ava", "Zara", "Nora", "Priya", "Sofia", "Hana", "Emma", "Lucy", "Amara", "Ines", "Ruth", "Maya",
    "Chloe", "Yuki", "Fatima", "Greta", "Olga", "Rosa")) + tuple((name, "he") for name in (
    "Sam", "Omar", "Leo", "Ben", "Ravi", "Tom", "Kofi", "Hugo", "Ivan", "Jonas", "Marco", "Theo", "Diego", "Felix",
    "Ken", "Luca", "Noah", "Pablo", "Sven", "Arjun"))
CONNECTIVES = ("Then", "Next", "After that", "Later", "")
# fmt: on

_PRONOUNS = {"she": dict(P="She", p="she", obj="her", pos="her", Pos="Her", refl="herself"),
             "he": dict(P="He", p="he", obj="him", pos="his", Pos="His", refl="himself")}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


# ------------------------------------------------------------------------------------------------
# one problem


def _operands(op: str, value: int) -> list[int]:
    """The numbers ``op`` may take at ``value``: every result stays in 1..99, divisions are exact."""
    if op == "add":
        return list(range(2, min(25, MAX_VALUE - value) + 1))
    if op == "sub":
        return list(range(2, min(25, value - 1) + 1))
    if op == "mul":
        return [k for k in range(2, 6) if value * k <= MAX_VALUE]
    return [k for k in range(2, 10) if value % k == 0 and value // k >= 1]


_APPLY: dict[str, Callable[[int, int], int]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a // b}


_OPENS_WITH_A_TIME_OR_PLACE = ("At ", "After ", "For ", "During ", "By ")


def _sentence(text: str, connective: str, name: str) -> str:
    """``text`` after a connective ("Then she ..."), except where it opens with its own time or place."""
    if not connective or text.startswith(_OPENS_WITH_A_TIME_OR_PLACE):
        return text
    return f"{connective} {text if text.startswith(name) else text[0].lower() + text[1:]}"


def make_problem(rng: random.Random, template: Template, difficulty: int) -> WordProblem:
    """One problem with ``difficulty`` operations (1-6) told by ``template``."""
    if not 1 <= difficulty <= MAX_LEVEL:
        raise ValueError(f"difficulty must be 1-{MAX_LEVEL}, got {difficulty}")
    name, pronoun = rng.choice(PEOPLE)
    words = {"name": name, **_PRONOUNS[pronoun]}
    value = rng.randint(2, 40)
    sentences = [template.start.format(n=value, **words)]
    lines = []
    for step in range(difficulty):
        choices = [op for op in _SYMBOL if _operands(op, value)]
        op = rng.choice(choices)
        n = rng.choice(_operands(op, value))
        result = _APPLY[op](value, n)
        text = getattr(template, op).format(n=n, **words)
        sentences.append(_sentence(text, rng.choice(CONNECTIVES) if step else "", name))
        lines.append(f"{value} {_SYMBOL[op]} {n} = {result}")
        value = result
    sentences.append(template.question.format(**words))
    lines.append(f"#### {value}")
    return WordProblem(question=" ".join(sentences), answer=str(value), solution="\n".join(lines),
                       difficulty=difficulty, template=template.name)


# ------------------------------------------------------------------------------------------------
# the data set


def _draw(rng: random.Random, slots: list[tuple[Template, int]], seen: set[str], split: str) -> list[WordProblem]:
    """One new problem per (template, level) slot, none whose question is already in ``seen``."""
    out = []
    for template, level in slots:
        for _ in range(1000):
            problem = make_problem(rng, template, level)
            if problem.question not in seen:
                break
        else:  # pragma: no cover - the space of questions is far larger than any split
            raise RuntimeError(f"{split}: no new question left for template {template.name} at level {level}")
        seen.add(problem.question)
        out.append(problem)
    rng.shuffle(out)
    return out


def _balanced(templates: tuple[Template, ...], levels: tuple[int, ...], n: int) -> list[tuple[Template, int]]:
    """``n`` (template, level) slots, every pair as often as ``n`` allows."""
    pairs = [(t, lv) for lv in levels for t in templates]
    return [pairs[i % len(pairs)] for i in range(n)]


def generate(n: int, seed: int, n_eval: int | None = None) -> dict[str, list[WordProblem]]:
    """The four splits: ``n`` training problems and ``n_eval`` (default n // 10) per evaluation split."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    n_eval = max(1, n // 10) if n_eval is None else n_eval
    seen: set[str] = set()
    plan = {
        "train": (TRAIN_TEMPLATES, tuple(range(1, MAX_LEVEL + 1)), n),
        "id": (TRAIN_TEMPLATES, SEED_LEVELS, n_eval),
        "ood_steps": (TRAIN_TEMPLATES, STEP_LEVELS, n_eval),
        "ood_templates": (HELDOUT_TEMPLATES, SEED_LEVELS, n_eval),
    }
    return {split: _draw(random.Random(f"word-problems:{seed}:{split}"), _balanced(t, lv, count), seen, split)
            for split, (t, lv, count) in plan.items()}


def write_word_problems(out: str | Path, *, n: int, seed: int, n_eval: int | None = None) -> dict[str, int]:
    """Write the four JSONL files into ``out`` (atomically each); returns file name -> rows."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, problems in generate(n, seed, n_eval).items():
        write_jsonl((p.row() for p in problems), folder / SPLIT_FILES[split])
        counts[SPLIT_FILES[split]] = len(problems)
    return counts
