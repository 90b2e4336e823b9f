"""The audit tells the truth at its edges (issue 25): who changed a token, posts refused for their CSRF
token, the 401 row's text as written; and a form on another site cannot sign anyone out."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator

import httpx
import pytest

from .serverkit import Setup, csrf_of

COOKIE = "cronkit_session"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    setup = Setup(tmp_path_factory.mktemp("audit-edge"))
    yield setup
    setup.server.stop()


def _browser(site: Setup, token: str) -> httpx.Client:
    client = httpx.Client(base_url=site.server.url, timeout=30)
    done = client.post("/signin", data={"csrf": csrf_of(client.get("/signin").text), "token": token, "next": "/"})
    assert done.status_code == 303, done.text
    return client


def _last(site: Setup, action: str) -> tuple[object, ...]:
    rows = site.sql("SELECT token_name, result, status_code, task, detail FROM audit WHERE action = ?"
                    " ORDER BY id DESC LIMIT 1", action)
    assert rows, f"no {action} row"
    return rows[0]


def test_token_changes_record_the_os_user(site: Setup) -> None:
    me = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    assert site.cli("token", "create", "someone", "--scope", "read").returncode == 0
    assert _last(site, "token.create")[:2] == (me, "created")
    assert site.cli("token", "revoke", "someone").returncode == 0
    assert _last(site, "token.revoke")[:2] == (me, "revoked")


def test_the_401_row_keeps_its_text(site: Setup) -> None:
    with site.server.client() as anon:
        assert anon.post("/admin/scheduler/trigger", json={"taskName": "quick"}).status_code == 401
    assert _last(site, "trigger")[1:3] == ("unauthorized", 401)
    assert _last(site, "trigger")[4] == "send Authorization: Bearer <token> (cronkit token create)"


def test_posts_refused_for_their_csrf_token_are_audited(site: Setup) -> None:
    browser = _browser(site, site.trigger)
    try:
        page = browser.get("/tasks/quick")
        assert page.status_code == 200
        refused = browser.post("/tasks/quick/run", data={"csrf": "forged"})
        assert refused.status_code == 403
        assert _last(site, "trigger")[:4] == ("deployer", "refused", 403, "quick")
        assert browser.post("/tasks/quick/pause", data={"csrf": "forged", "reason": "x"}).status_code == 403
        assert _last(site, "pause")[:4] == ("deployer", "refused", None, "quick")
        assert browser.post("/signout", data={"csrf": "forged"}).status_code == 403
        assert _last(site, "dashboard.signout")[:3] == ("deployer", "refused", 403)
        assert browser.get("/").status_code == 200  # still signed in
    finally:
        browser.close()
    with httpx.Client(base_url=site.server.url, timeout=30) as stranger:
        assert stranger.post("/signin", data={"csrf": "forged", "token": site.read}).status_code == 403
    assert _last(site, "dashboard.signin")[1:3] == ("refused", 403)


def test_a_signout_without_the_session_cookie_touches_no_cookie(site: Setup) -> None:
    """A form on another site posts without the SameSite=Strict cookie: the answer must not delete it."""
    browser = _browser(site, site.read)
    try:
        with httpx.Client(base_url=site.server.url, timeout=30) as cross_site:
            answer = cross_site.post("/signout", data={})
        assert answer.status_code == 303 and "set-cookie" not in answer.headers
        assert browser.get("/").status_code == 200  # the session goes on
        done = browser.post("/signout", data={"csrf": csrf_of(browser.get("/").text)})
        assert done.status_code == 303 and f'{COOKIE}=""' in done.headers["set-cookie"]
    finally:
        browser.close()
