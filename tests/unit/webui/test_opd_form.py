"""The OPD form's plan per direction and traffic classes (issue 11): written into the OPD's own file
with the admin's comments and schedules' plans kept, refused by pnsbox's own model exactly as the
CLI refuses the same YAML, and shown again from an OPD as the form's fields."""

from webui_fakes import Browser, example_files

from pnsbox.cli import main
from webui.config_edit import edit_opd
from webui.opd_form import classes_from_form, form_from_opd
from webui.site import parse


def test_a_per_direction_plan_replaces_the_plan_for_both_and_keeps_comments_and_classes():
    files = example_files()
    new = edit_opd(files, "dinkes", plan={"download": {"guaranteed": "80mbit", "ceiling": "300mbit"},
                                          "upload": {"guaranteed": "20mbit", "ceiling": "100mbit"}})
    text = new["opds/health-and-planning.yaml"]
    assert "guaranteed: 50mbit" not in text and "# shares of the guarantee; the rest is the default class" in text
    plan = parse(new).opds["dinkes"].bandwidth
    assert (plan.guaranteed, plan.ceiling) == (None, None)
    assert plan.rates("download") == (80_000_000, 300_000_000) and plan.rates("upload") == (20_000_000, 100_000_000)
    assert set(plan.classes) == {"egov", "web"}
    back = edit_opd(new, "dinkes", plan={"guaranteed": "50mbit", "ceiling": "200mbit"})
    assert back == files  # and back again, byte for byte


def test_schedules_plans_stay_when_the_form_changes_the_base_plan():
    new = edit_opd(example_files(), "bappeda", plan={"download": {"guaranteed": "30mbit", "ceiling": "100mbit"},
                                                     "upload": {"guaranteed": "10mbit", "ceiling": "50mbit"}})
    plan = parse(new).opds["bappeda"].bandwidth
    assert plan.during["office-hours"].guaranteed == 60_000_000
    assert "# planning season: more during office hours" in new["opds/health-and-planning.yaml"]


def test_classes_are_added_changed_and_removed_with_a_kept_class_keeping_its_place():
    form = {"class-0-name": "egov", "class-0-share": "30%", "class-0-services": ["simpeg"],
            "class-1-name": "web", "class-1-share": "40%", "class-1-ports": "tcp/443", "class-1-remove": "on",
            "class-2-name": "video", "class-2-share": "10", "class-2-ceiling": "20mbit", "class-2-category": ["video"],
            "class-3-name": ""}
    classes = classes_from_form(form)
    assert classes == {"egov": {"share": "30%", "match": {"services": ["simpeg"]}},
                       "video": {"share": 10, "ceiling": "20mbit", "match": {"category": ["video"]}}}
    new = edit_opd(example_files(), "dinkes", classes=classes)
    assert "egov: {share: 30%, match: {services: [simpeg]}}" in new["opds/health-and-planning.yaml"]
    assert "video:" in new["opds/health-and-planning.yaml"]
    plan = parse(new).opds["dinkes"].bandwidth
    assert list(plan.classes) == ["egov", "video"] and plan.classes["video"].ceiling == 20_000_000
    assert plan.classes["video"].match.category == ["video"]


def test_the_form_shows_an_opd_as_its_fields():
    form = form_from_opd(parse(example_files()).opds["dinkes"])
    assert (form["plan_mode"], form["guaranteed"], form["ceiling"]) == ("both", "50mbit", "200mbit")
    assert (form["download_guaranteed"], form["upload_ceiling"]) == ("50mbit", "200mbit")
    assert [(row["name"], row["share"], row["services"], row["ports"]) for row in form["classes"][:2]] == [
        ("egov", "40%", ["simpeg", "mail"], ""), ("web", "40%", [], "tcp/443, tcp/80")]
    assert [row["name"] for row in form["classes"][2:]] == ["", ""]  # rows to add classes


def test_a_class_the_cli_refuses_is_refused_by_the_form_with_the_same_problem(app, browser, tmp_path, capsys):
    files = edit_opd(example_files(), "dinkes", classes={"egov": {"share": "140%"}})
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert main(["validate", "-c", str(tmp_path)]) == 1
    printed = capsys.readouterr().err
    assert "opds.dinkes.bandwidth.classes.egov.share: '140%': a share is more than 0% and at most 100%" in printed
    admin: Browser = browser("admin")
    page = admin.post("/opds/dinkes/edit", {"plan_mode": "both", "guaranteed": "50mbit", "ceiling": "200mbit",
                                            "class-0-name": "egov", "class-0-share": "140%"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "<code>opds.dinkes.bandwidth.classes.egov.share</code></td><td>&#39;140%&#39;: bagian lebih dari 0% dan " \
           "paling banyak 100%" in html
    assert 'name="class-0-share" value="140%"' in html  # what was typed, to fix
    assert app.extensions["pnsbox"].drafts.get("admin") is None


def test_an_operator_sets_their_own_opds_plan_per_direction_and_its_classes(app, browser):
    operator = browser("opdinkes")
    response = operator.post("/opds/dinkes/edit", {
        "plan_mode": "per_direction", "download_guaranteed": "60mbit", "download_ceiling": "250mbit",
        "upload_guaranteed": "20mbit", "upload_ceiling": "80mbit",
        "class-0-name": "egov", "class-0-share": "50%", "class-0-services": "simpeg", "class-1-name": ""})
    assert response.status_code == 302
    draft = app.extensions["pnsbox"].drafts.get("opdinkes")
    plan = parse(draft.files).opds["dinkes"].bandwidth
    assert plan.rates("upload") == (20_000_000, 80_000_000) and list(plan.classes) == ["egov"]
