"""The web app: ``make web`` runs ``streamlit run bot/web.py`` on 127.0.0.1:$WEB_PORT.

Another adapter over the conversation core, like the console and the chats: it draws
the core's structured replies (cards, buttons with payloads) with Streamlit widgets, and
``bot/visit.py`` turns what the visitor does into core calls. Every text is shown as
escaped Markdown, never as HTML; files a reply carries (/export's) are download buttons,
and an uploaded export goes to the core's import without being kept. One conversation
(model, title index, database) serves every browser session of the process; a new
``models/current`` is swapped in between requests, as in the bot.
"""

from __future__ import annotations

import os
import re
import sys

# Streamlit puts this file's folder first on sys.path, where bot/telegram.py and
# bot/discord.py would hide the libraries of those names: import our modules as bot.*
# from the project's root instead.
# (Plain string paths: this runs on every rerun, so no filesystem calls.)
_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np
import streamlit as st

from bot.formats import LIMITS, MAX_BYTES, UPLOAD_MB
from bot.payloads import (
    Chosen,
    Dislike,
    Like,
    MorePicks,
    NotInterested,
    OnItem,
    Page,
    RemoveFromWatchlist,
    Seen,
    Watch,
    WatchlistPage,
    decode,
)
from bot.replies import Button, Card, File, Reply
from bot.visit import (
    COOKIE,
    COOKIE_DAYS,
    MAX_NAME,
    Filters,
    Visit,
    about,
    check,
    new_visitor_id,
    served,
    settings,
    visitor_from_cookie,
)
from jobs.status import status_lines as retraining_status
from recommender.errors import RecommenderError
from recommender.serve import Recommender
from storage import StorageError

PAGES = ("Search", "Recommendations", "Watchlist & likes", "Movie night", "Your account",
         "About the model")
STARS = [x / 2 for x in range(1, 11)]
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=^])")
# Button words beside the core's emoji, so every button has a readable name.
WORDS: dict[type, str] = {Like: "Like", NotInterested: "Not for me", Watch: "Watchlist",
                          Seen: "Seen", RemoveFromWatchlist: "Remove", Dislike: "Dislike"}


def md(text: str) -> str:
    """``text`` as Markdown that shows exactly those characters: no markup, no HTML."""
    return _MARKDOWN.sub(r"\\\1", text).replace("\n", "  \n")


def current_visit() -> Visit:
    return Visit(served(), visitor_id(), st.session_state.get("name") or None)


def visitor_id() -> str:
    """This browser's visitor id: from its cookie, else a new random one."""
    if "visitor" not in st.session_state:
        found = visitor_from_cookie(st.context.cookies.get(COOKIE))
        st.session_state.visitor = found or new_visitor_id()
    return st.session_state.visitor


def remember_visitor(visitor: str) -> None:
    """Keep the id in a cookie (it is ours: URL-safe letters only, no user input)."""
    cookie = f"{COOKIE}={visitor}; Max-Age={COOKIE_DAYS * 86400}; Path=/; SameSite=Lax"
    st.html(f'<script>document.cookie = "{cookie}" + '
            '(location.protocol === "https:" ? "; Secure" : "");</script>',
            unsafe_allow_javascript=True)


# ----- replies -----------------------------------------------------------------------

def flash(replies: list[Reply]) -> None:
    """Show replies at the top of the page on the next run; notices as toasts."""
    st.session_state.flash = [r for r in replies if not r.edit]
    for reply in replies:
        if reply.notice:
            st.toast(md(reply.notice))


def press(data: str) -> None:
    """A button's callback: paging moves the page; anything else goes to the core."""
    payload = decode(data)
    if isinstance(payload, Page):
        st.session_state["wl_page" if isinstance(payload, WatchlistPage) else "likes_page"] = \
            payload.page
        return
    replies = current_visit().press(data)
    if isinstance(payload, MorePicks):
        st.session_state.picks = replies  # the next page replaces the list shown
        return
    flash(replies)


def label(button: Button) -> str:
    """The core's label without its list number, with a word for screen readers."""
    text = re.sub(r"^\d+\s+", "", button.label)
    word = WORDS.get(type(button.payload))
    return f"{text} {word}" if word and word.lower() not in text.lower() else text


def buttons_row(buttons: list[Button], key: str) -> None:
    """Buttons side by side, each as wide as its label, wrapping on narrow screens."""
    with st.container(horizontal=True):
        for i, button in enumerate(buttons):
            st.button(label(button), key=f"{key}:{i}:{button.data}", on_click=press,
                      args=(button.data,))


def show(reply: Reply, key: str, *, ask_more: bool = False, rate: bool = False) -> None:
    """A core reply: intro, one bordered card per title with its buttons ("More like
    this" and "Why" too with ``ask_more``; stars with ``rate``), the other buttons, the
    outro, and its files as download buttons."""
    if reply.intro:
        st.markdown(md(reply.intro))
    rows = {_item_of(row): row for row in reply.buttons if _item_of(row) is not None}
    for n, card in enumerate(reply.cards):
        card_box(card, list(rows.get(card.item_id, [])), f"{key}:{n}", ask_more=ask_more,
                 rate=rate)
    for n, row in enumerate(r for r in reply.buttons if _item_of(r) is None):
        buttons_row(row, f"{key}:free{n}")
    if reply.outro:
        st.markdown(md(reply.outro))
    if reply.files:
        files_row(reply.files, key)


def card_box(card: Card, buttons: list[Button], key: str, *, ask_more: bool,
             rate: bool) -> None:
    """One title of a reply, bordered, with its buttons."""
    with st.container(border=True):
        st.markdown(f"**{md(card.heading)}**")
        if card.detail:
            st.caption(md(card.detail))
        if ask_more and card.item_id is not None:
            buttons += [Button("≈ More like this", Chosen("similar", card.item_id)),
                        Button("? Why", Chosen("why", card.item_id))]
        if buttons:
            buttons_row(buttons, key)
        if rate and card.item_id is not None:
            rating(card, key)
        if card.link:
            st.link_button("IMDb page ↗", card.link)


def files_row(files: list[File], key: str) -> None:
    """A reply's files as download buttons. Downloading reruns nothing, so every button
    stays until the visitor does something else."""
    with st.container(horizontal=True):
        for n, file in enumerate(files):
            st.download_button(f"⬇ Download {file.name}", file.data, file_name=file.name,
                               mime=file.mime, key=f"{key}:file{n}", on_click="ignore")


def _item_of(row: list[Button]) -> int | None:
    """The one title a row of buttons is about, if it is about one."""
    items = {getattr(b.payload, "item", None) for b in row}
    item = items.pop() if len(items) == 1 else None
    return item if isinstance(item, int) and all(
        isinstance(b.payload, (OnItem, Chosen)) for b in row) else None


def rating(card: Card, key: str) -> None:
    """Stars for a search result, rated through the core."""
    assert card.item_id is not None
    with st.container(horizontal=True, vertical_alignment="bottom"):
        stars = st.select_slider(f"Your stars for {card.heading}", STARS, value=4.0,
                                 key=f"{key}:stars", width=300)
        st.button("⭐ Rate", key=f"{key}:rate", on_click=press,
                  args=(Button("", Chosen("rate", card.item_id, stars)).data,))


def show_all(replies: list[Reply], key: str, *, ask_more: bool = False) -> None:
    for n, reply in enumerate(replies):
        show(reply, f"{key}{n}", ask_more=ask_more)


# ----- pages -------------------------------------------------------------------------

def search_page(visit: Visit) -> None:
    st.header("Search")
    query = st.text_input("Search a title", key="query", live=True,
                          placeholder="e.g. star wars, dune 2021, the office tv",
                          help="Typos, years and \"tv\" or \"movie\" are fine.")
    if not query:
        st.caption("Type a title: matches appear as you type. Like, dislike, rate or add "
                   "each one to your watchlist.")
        return
    show(visit.search(query), "search", rate=True)


def recommendations_page(visit: Visit) -> None:
    st.header("Recommendations")
    rec = visit.conversation.recommender
    with st.form("filters"):
        left, right = st.columns(2)
        with left:
            count = st.slider("How many", 1, 20, 5)
            genres = st.multiselect("Genres (all of them)", rec.genre_names)
        with right:
            kind = st.radio("Kind", ["Movies and TV", "Movies", "TV shows"], horizontal=True)
            years = year_range(rec)
        has_imdb = bool(np.isfinite(rec.imdb_rating).any())
        min_rating = st.slider("Minimum IMDb rating", 0.0, 10.0, 0.0, 0.5,
                               disabled=not has_imdb,
                               help=None if has_imdb else "This catalogue has no IMDb "
                               "ratings (IMDB=off, or IMDb was unreachable).")
        asked = st.form_submit_button("Recommend")
    if asked:
        kinds = {"Movies": "movie", "TV shows": "tv"}
        st.session_state.picks = visit.recommend(Filters(
            count=count, kind=kinds.get(kind), genres=tuple(genres), years=years,
            min_rating=min_rating or None))
    show_all(st.session_state.get("picks", []), "picks", ask_more=True)


def year_range(rec: Recommender) -> tuple[int, int] | None:
    known = rec.years[np.isfinite(rec.years)]  # NaN for unknown years; one numpy pass
    if not len(known) or known.min() == known.max():
        return None
    low, high = int(known.min()), int(known.max())
    chosen = st.slider("Years", low, high, (low, high))
    return None if chosen == (low, high) else (int(chosen[0]), int(chosen[1]))


def lists_page(visit: Visit) -> None:
    st.header("Watchlist & likes")
    show_all(visit.watchlist(st.session_state.get("wl_page", 0)), "watchlist", ask_more=True)
    st.divider()
    show_all(visit.likes(st.session_state.get("likes_page", 0)), "likes")


def movie_night_page(_visit: Visit) -> None:
    st.header("Movie night")
    st.caption("Everyone who wants in joins the same room name; then anyone picks. The "
               "picks are titles none of you has seen, scored for the whole room.")
    st.text_input("Your name (shown to the room)", key="name_typed")
    st.text_input("Room name", key="room", placeholder="e.g. friday at ann's")
    columns = st.columns(3)
    for column, action, text in zip(columns, ("join", "leave", "pick"),
                                    ("Join", "Leave", "Pick for the room"), strict=True):
        column.button(text, key=f"night:{action}", on_click=movie_night, args=(action,))


def movie_night(action: str) -> None:
    typed = st.session_state.get("name_typed") or ""
    if typed.strip():
        name, problem = check(typed, "your name", MAX_NAME)
        if problem:
            flash([Reply(problem)])
            return
        st.session_state.name = name
    flash(current_visit().movie_night(st.session_state.get("room") or "", action))


def account_page(visit: Visit) -> None:
    st.header("Your account")
    linked = visit.linked_to()
    if linked:
        st.markdown(md(f"This browser uses the taste of your {linked}."))
        st.button("Unlink", on_click=lambda: flash([current_visit().unlink()]))
    else:
        st.markdown("Use the same taste here and in the chat: send **/link** to the bot on "
                    "Telegram or Discord and enter the code it gives you.")
        st.text_input("Code from /link", key="code", placeholder="ABCD-EFGH")
        st.button("Link", on_click=lambda: flash([current_visit().link(
            st.session_state.get("code") or "")]))
    st.divider()
    transfer_section()
    st.divider()
    st.subheader("Forget me")
    sure = st.checkbox("Yes, delete my likes, ratings and watchlist", key="sure")
    st.button("Forget my data", disabled=not sure, on_click=forget)


def transfer_section() -> None:
    """Import an IMDb or Letterboxd export; /export's two files."""
    st.subheader("Bring your history")
    st.markdown(md("Your IMDb ratings or watchlist (Your Ratings > Export, a CSV) or your "
                   "Letterboxd export (Settings > Import & Export > Export your data: the "
                   f"zip, or one of its CSVs). Up to {LIMITS}. The file is read once and "
                   "not kept."))
    # A new key after each import empties the control, so Streamlit drops the file too.
    key = f"upload{st.session_state.get('uploads', 0)}"
    st.file_uploader("IMDb or Letterboxd export (.csv or .zip)", type=["csv", "zip"],
                     key=key, on_change=upload, args=(key,), max_upload_size=UPLOAD_MB)
    st.subheader("Take it with you")
    st.caption("Your likes, ratings and watchlist as a CSV in IMDb's layout (importing it "
               "gives them back), and everything stored about you as JSON.")
    st.button("Export my data", on_click=lambda: flash(current_visit().export()))


def upload(key: str) -> None:
    """The file uploader's callback: the file to the core, once; the report shown."""
    chosen = st.session_state.get(key)
    if chosen is None:  # the visitor removed the file
        return
    st.session_state.uploads = st.session_state.get("uploads", 0) + 1
    data = chosen.getvalue() if chosen.size <= MAX_BYTES else b""
    flash(current_visit().upload(data, chosen.name, chosen.size))


def forget() -> None:
    flash(current_visit().forget())
    st.session_state.picks = []
    st.session_state.sure = False


def about_page(visit: Visit) -> None:
    st.header("About the model")
    current = settings()
    info = about(visit.conversation, current.recommender.models_dir,
                 retraining_status(current.jobs))
    st.markdown(md(f"Version {info['version']}, trained {info['trained_at']} on "
                   f"{info['data']}; {info['items']:,} titles."))
    params = ", ".join(f"{k} {v}" for k, v in info["params"].items())
    st.caption(md(f"Parameters: {params}"))
    st.subheader("Evaluation")
    rows = [{"protocol": protocol, "model": model, "metric": metric, "value": value}
            for protocol, models in info["metrics"].items()
            for model, figures in models.items() for metric, value in figures.items()
            if metric != "users"]
    if rows:
        st.dataframe(rows, hide_index=True)
        st.vega_lite_chart(
            [r for r in rows if r["metric"] in ("ndcg@10", "given@5")],
            {"mark": {"type": "bar", "tooltip": True},
             "encoding": {"x": {"field": "model", "type": "nominal", "title": None},
                          "xOffset": {"field": "protocol"},
                          "y": {"field": "value", "type": "quantitative", "title": "nDCG@10"},
                          "color": {"field": "protocol", "type": "nominal"}}})
    else:
        st.caption("This model has no evaluation figures yet (python -m recommender evaluate).")
    for plot in info["plots"]:
        st.image(str(plot), caption=plot.stem)
    st.subheader("Retraining")
    for line in info["schedule"]:
        st.markdown(md(line))


def main() -> None:
    st.set_page_config(page_title="Movie & TV recommender", page_icon="🎬")
    try:
        visit = current_visit()
    except (RecommenderError, StorageError) as exc:
        st.error(md(f"The web app can't start: {exc}"))
        st.stop()
    with st.sidebar:
        st.title("🎬 Movies & TV")
        page = st.radio("Page", PAGES, key="page")
        remember_visitor(visit.visitor_id)
    # The answer to the last action, shown once.
    for n, reply in enumerate(st.session_state.pop("flash", [])):
        with st.container(border=True):
            show(reply, f"flash{n}")
    {"Search": search_page, "Recommendations": recommendations_page,
     "Watchlist & likes": lists_page, "Movie night": movie_night_page,
     "Your account": account_page, "About the model": about_page}[page](visit)


if __name__ == "__main__":  # as Streamlit runs it; importing the module draws nothing
    main()
