"""Streamlit-side pieces of the pages: shared/ (state, session identity, sidebar, talk mode,
widgets), charts/ (plotly figures, live charts, palette), and one package per page's panels
(build/, train/, evaluate/, inside/). A page's panels import shared pieces, never another's."""

from core.moved import keep_old_names

# module names before the regroup (issue 23), for scripts and `python -m ui.pagebench`
UI_MOVES = {
    "ui.state": "ui.shared.state",
    "ui.session": "ui.shared.session",
    "ui.guard": "ui.shared.guard",
    "ui.pages": "ui.shared.pages",
    "ui.talk": "ui.shared.talk",
    "ui.lesson": "ui.shared.lesson",
    "ui.share": "ui.shared.share",
    "ui.sidebar": "ui.shared.sidebar",
    "ui.build_state": "ui.shared.build_state",
    "ui.widgets": "ui.shared.widgets",
    "ui.inside_views": "ui.shared.inside_views",
    "ui.mydigits_views": "ui.shared.mydigits_views",
    "ui.race_panel": "ui.shared.race_panel",
    "ui.figures": "ui.charts.figures",
    "ui.live_chart": "ui.charts.live_chart",
    "ui.palette": "ui.charts.palette",
    "ui.shared_figures": "ui.charts.shared_figures",
    "ui.race_figures": "ui.charts.race_figures",
    "ui.replay_figures": "ui.charts.replay_figures",
    "ui.layer_editor": "ui.build.layer_editor",
    "ui.train_panel": "ui.train.train_panel",
    "ui.train_settings": "ui.train.train_settings",
    "ui.steer_panel": "ui.train.steer_panel",
    "ui.follow_panel": "ui.train.follow_panel",
    "ui.live_curves": "ui.charts.live_curves",
    "ui.run_import": "ui.evaluate.run_import",
    "ui.backprop_panel": "ui.inside.backprop_panel",
    "ui.replay_views": "ui.inside.replay_views",
    "ui.pagebench": "core.bench.pages",
}
keep_old_names(UI_MOVES)
