"""Take it home, from the wall: the room's model as one offline page, served by the app for
the room's phones (a second QR code); saved on the phone, it works with no network."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from core.export.offline_page import SUFFIX, OfflineRefused, offline_page
from core.room.address import phone_address
from core.room.store import Room
from core.runs.atomic import write_file
from ui.room import hub
from ui.room.qr import QR_PIXELS, qr_png
from ui.shared import state

# Streamlit serves <app folder>/static/ at /app/static/ (server.enableStaticServing)
FOLDER = Path(__file__).resolve().parents[2] / "static" / "take-home"
URL_PATH = "app/static/take-home"
SHOWN_KEY = "room-take-home"  # the run whose page this wall shows


def publish(room: Room) -> None:
    """Write the room's model as an offline page where the app serves it (button callback)."""
    run = hub.room_model(room)
    if run is None:
        st.session_state["room-problem"] = "No model reads the room yet: nothing to take home."
        return
    try:
        page = offline_page(run, state.class_names(run)).encode()
        write_file(FOLDER / f"{run.run_id}{SUFFIX}", page)
    except (OfflineRefused, OSError) as exc:
        st.session_state["room-problem"] = f"The take-home page could not be made: {exc}"
        return
    st.session_state[SHOWN_KEY] = run.run_id


def take_home(room: Room) -> None:
    """Offer the room's model to take home; once made, its QR code and link."""
    run_id = st.session_state.get(SHOWN_KEY)
    st.button(
        "Take it home", icon=":material/phone_iphone:", on_click=publish, args=(room,),
        key="room-take-home-button",
        help="The room's model as one web page, for the phones: it reads digits with no "
        "network, once saved.",
    )  # fmt: skip
    if not run_id or not (FOLDER / f"{run_id}{SUFFIX}").is_file():
        return
    port = int(st.get_option("server.port") or 8501)
    address = phone_address(f"{URL_PATH}/{run_id}{SUFFIX}", port, st.get_option("server.address"))
    st.image(
        qr_png(address.url, QR_PIXELS), output_format="PNG", caption="Take the model home",
        alt=f"QR code of the take-home page's link, {address.url}",
    )  # fmt: skip
    st.markdown(
        f'<div class="dl-link">{html.escape(address.url)}</div>'
        "Open it, then save the page (Share → Save, or Download): it keeps working offline.",
        unsafe_allow_html=True,
    )
