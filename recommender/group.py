"""Group recommendation ("movie night"): one list for several people watching together.

Aggregation. Each member is scored as :meth:`Recommender.recommend` would score them
alone (the same serving rule: collaborative scores; items without factors, i.e. unrated
TV shows, on content at up to ``CONTENT_WEIGHT``; content only if they liked only such
items), then normalised by their own best score among the items nobody excluded and
clipped to [0, 1]: 1 is "their best pick here", 0 is "nothing for them" (negative
collaborative scores mean "less than an unrelated film", not reliably "hates it", so
they are not told apart from 0). The best is taken before the ``kind`` and ``genres``
filters, so a filter cannot make a film someone barely likes their 1.0 (and "for"
them). Normalising stops a member whose scores run high (many or very typical likes)
from outvoting the rest. The group score is the average with a least-misery guard:

    group = (1 - MISERY_WEIGHT) * mean(member scores) + MISERY_WEIGHT * min(...)

The average maximises total satisfaction and is among the best strategies in group
studies (Masthoff 2004; Baltrunas et al. 2010), but alone it picks a film that leaves
one member with nothing if the others like it enough; pure least misery (the min)
protects everyone but ignores how much the rest like it, ties easily and gets bland as
groups grow. Mixing in the min is a smooth form of Masthoff's "average without misery",
which her participants' own group choices resembled: a film everyone can enjoy beats
one that delights most and leaves one out, when it is close. The weight is small
because offline it costs accuracy: random groups of ml-100k users, a fifth of each
member's likes held out (the published model had trained on them, so only the
comparison counts), hits@10 per member were 1.37 / 1.29 / 1.17 (groups of 3) and
0.95 / 0.92 / 0.85 (groups of 5) at weight 0 / 0.25 / 0.5 (scored with the exact
fold-in). The same check backs the normalisation: averaging raw scores instead lifted
those hits (1.53) by serving the members with most likes, and cut the groups where
every member got a hit from 27% to 23%.

Cold members, who liked nothing the model knows, have no taste to aggregate: they are
left out of the group score and of ``for_whom`` (their dislikes are still excluded),
and their ``member_scores`` entry is the popular score (damped mean rating, relative to
the best one) the bot would give them alone. With every member cold, picks are the
popular, well-rated items, each ``for_whom`` everyone.

``for_whom`` names the non-cold members whose score for the pick is within
``FOR_WHOM_MARGIN`` of the highest; ``because`` interleaves their liked items behind it
(at most ``GROUP_BECAUSE``, each with its share of that member's normalised score);
``source`` is "collaborative" when one of them is scored so, "content" for the rest and
"popular" with everyone cold. Members served by the same scorer share one matrix
product: a group of 10 on 87,000 items at rank 64 takes about 12 ms on one core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest

import numpy as np

from recommender.catalogue import Taste
from recommender.ranker import top_n
from recommender.scorers import Scores, ServingRule, with_content

# The weight of the least happy member's score in the group score, and how close to the
# happiest member's score another member's must be to be named in ``for_whom`` too.
MISERY_WEIGHT = 0.25
FOR_WHOM_MARGIN = 0.05
# At most this many liked items explain a group pick (two per member named).
GROUP_BECAUSE = 3
MEMBER_BECAUSE = 2


@dataclass(frozen=True)
class GroupChoice:
    """One pick, by catalogue row, before it is dressed up as a ``GroupPick``."""

    row: int
    score: float
    because: tuple[tuple[int, float], ...]
    source: str
    for_whom: tuple[int, ...]
    member_scores: tuple[float, ...]


@dataclass(frozen=True)
class Members:
    """Every member's normalised scores: ``matrix[i]`` is member i's row.

    ``warm_block`` holds the warm members' rows, collaborative first (the order the sum
    in :func:`aggregate` has always run in); ``scores[i]`` is a warm member's normalised
    :class:`Scores` (for the shares behind a pick).
    """

    matrix: np.ndarray
    warm_block: np.ndarray
    warm: list[int]
    collaborative: list[int]
    scores: dict[int, Scores]


def relative(score: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``score`` divided by its best value where ``where`` (unchanged if that is not > 0)."""
    top = score[where].max(initial=0.0)
    return score / top if top > 0 else score.astype(np.float64)


def score_members(rule: ServingRule, tastes: Sequence[Taste], allowed: np.ndarray,
                  unseen: np.ndarray) -> Members:
    """Each member's scores, normalised by their best among the ``unseen`` items."""
    cat = rule.catalogue
    matrix = np.empty((len(tastes), len(cat)))
    found = rule.collaborative(tastes, out=matrix)  # raw scores, straight into the matrix
    collaborative = [i for i, (s, _) in enumerate(found) if s is not None]
    content = [i for i, t in enumerate(tastes) if found[i][0] is None and len(t.like_rows)]
    scores: dict[int, Scores] = {}
    best_of = unseen & cat.has_factors
    unrated = cat.unrated(allowed)
    for i in collaborative:
        own = found[i][0]
        assert own is not None
        top = float(np.max(matrix[i], where=best_of, initial=0.0))
        # Normalised whatever the scorer: in a group only the member's own scale counts.
        # Divided in place in the member's row, then clipped there.
        scores[i] = with_content(own, True, top, rule.content, tastes[i], unrated,
                                 out=matrix[i])
        np.clip(scores[i].values, 0.0, 1.0, out=matrix[i])
    for i in content:
        own = rule.content.score(tastes[i])
        assert own is not None
        top = float(own.values[unseen].max(initial=0.0))
        scores[i] = own.rescaled(over=top) if top > 0 else own
        matrix[i] = scores[i].values
    warm = sorted(collaborative + content)
    cold = [i for i in range(len(tastes)) if i not in warm]
    if cold:
        matrix[cold] = relative(rule.popularity.values, unseen)
    order = collaborative + content
    block = matrix if order == list(range(len(tastes))) else matrix[order]
    return Members(matrix, block, warm, collaborative, scores)


def aggregate(block: np.ndarray) -> np.ndarray:
    """The group score of every row from the warm members' normalised scores."""
    return (1 - MISERY_WEIGHT) * block.mean(axis=0) + MISERY_WEIGHT * block.min(axis=0)


def for_whom(members: Members, row: int, size: int) -> tuple[int, ...]:
    """The warm members whose score for ``row`` is within the margin of the best."""
    if not members.warm:
        return tuple(range(size))
    best = members.warm_block[:, row].max()
    return tuple(i for i in members.warm if members.matrix[i, row] >= best - FOR_WHOM_MARGIN)


def interleave(lists: Sequence[Sequence[tuple[int, float]]],
               limit: int) -> tuple[tuple[int, float], ...]:
    """Round-robin over the members' reasons, each liked item once, at most ``limit``."""
    merged: dict[int, float] = {}
    for rank in zip_longest(*lists):
        for pair in rank:
            if pair is not None and pair[0] not in merged:
                merged[pair[0]] = pair[1]
    return tuple(merged.items())[:limit]


def source_of(members: Members, whom: tuple[int, ...], has_factors: bool) -> str:
    """"popular" with everyone cold, "collaborative" if someone it is for is scored so."""
    if not members.warm:
        return "popular"
    if has_factors and any(i in members.collaborative for i in whom):
        return "collaborative"
    return "content"


def recommend_group(rule: ServingRule, tastes: Sequence[Taste], allowed: np.ndarray,
                    unseen: np.ndarray, n: int) -> list[GroupChoice]:
    """The ``n`` best ``allowed`` rows for the group (see the module docstring)."""
    if n <= 0 or not allowed.any():
        return []
    cat = rule.catalogue
    members = score_members(rule, tastes, allowed, unseen)
    group = aggregate(members.warm_block) if members.warm else rule.popularity.values
    chosen = top_n(group, allowed, n, cat.ids).tolist()
    whom = {r: for_whom(members, r, len(tastes)) for r in chosen}
    reasons = {i: members.scores[i].because(
        np.array([r for r in chosen if i in whom[r]], dtype=np.int64), MEMBER_BECAUSE)
        for i in members.warm}
    return [GroupChoice(
        row=r, score=float(group[r]),
        because=interleave([reasons[i].get(r, ()) for i in whom[r] if i in reasons],
                           GROUP_BECAUSE),
        source=source_of(members, whom[r], bool(cat.trained[r])), for_whom=whom[r],
        member_scores=tuple(round(float(members.matrix[i, r]), 6) for i in range(len(tastes))))
        for r in chosen]
