"""Dashboard sessions over real HTTP: signing out ends a session for good, across a restart too."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .serverkit import Server, Setup, csrf_of

COOKIE = "cronkit_session"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    setup = Setup(tmp_path_factory.mktemp("sessions"))
    yield setup
    setup.server.stop()


def sign_in(server: Server, token: str) -> str:
    """Sign in through the form; return the session cookie's value."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        form = client.get("/signin")
        done = client.post("/signin", data={"csrf": csrf_of(form.text), "token": token, "next": "/"})
        assert done.status_code == 303, done.text
        return str(client.cookies[COOKIE])


def overview(server: Server, cookie: str) -> httpx.Response:
    """GET / with nothing but a saved session cookie (a copy kept elsewhere, as a curl jar keeps it)."""
    with httpx.Client(base_url=server.url, timeout=30, cookies={COOKIE: cookie}) as client:
        return client.get("/")


def sign_out(server: Server, cookie: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30, cookies={COOKIE: cookie}) as client:
        return client.post("/signout", data={"csrf": csrf_of(client.get("/").text)})


def is_signed_out(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/signin")


def test_a_signed_out_session_stays_signed_out_across_a_restart(site: Setup) -> None:
    saved, other = sign_in(site.server, site.read), sign_in(site.server, site.read)
    assert overview(site.server, saved).status_code == 200
    done = sign_out(site.server, saved)
    assert done.status_code == 303 and done.headers["location"] == "/signin"
    assert f'{COOKIE}=""' in done.headers["set-cookie"]  # the browser forgets it ...
    assert is_signed_out(overview(site.server, saved))  # ... and a copy of it is refused
    assert overview(site.server, other).status_code == 200  # another browser of the token goes on
    with httpx.Client(base_url=site.server.url, timeout=30, cookies={COOKIE: saved}) as again:
        assert again.post("/signout", data={}).status_code == 303  # nothing left to end: harmless
    site.server.stop()
    site.server = Server(site.env, site.root)
    assert is_signed_out(overview(site.server, saved))
    assert overview(site.server, other).status_code == 200
    audited = site.sql("SELECT token_name, result, status_code FROM audit WHERE action = 'dashboard.signout'"
                      " AND token_name = 'grafana'")
    assert audited == [("grafana", "signed_out", 303)]


def test_signing_out_forgets_sessions_whose_cookies_have_expired(site: Setup) -> None:
    site.sql("INSERT INTO ended_sessions (session_id, expires_at) VALUES ('long-gone', 1000)")
    assert sign_out(site.server, sign_in(site.server, site.admin)).status_code == 303
    ended = [row[0] for row in site.sql("SELECT session_id FROM ended_sessions")]
    assert "long-gone" not in ended and len(ended) >= 1


def test_a_cookie_without_a_session_id_is_refused(site: Setup) -> None:
    """A cookie signed before sessions had ids could never be signed out: it is not accepted."""
    from itsdangerous import URLSafeTimedSerializer

    from cronkit.web.auth import hash_token

    key = (site.root / "home" / "dashboard.key").read_text().strip()
    old = URLSafeTimedSerializer(key, salt="cronkit.dashboard.session").dumps(
        {"h": hash_token(site.read), "n": "grafana", "c": "x" * 32})
    assert is_signed_out(overview(site.server, old))
    signer = URLSafeTimedSerializer(key, salt="cronkit.dashboard.session")
    current = signer.dumps({"h": hash_token(site.read), "n": "grafana", "s": "fresh-id", "c": "x" * 32})
    assert overview(site.server, current).status_code == 200  # the same cookie with an id is fine
