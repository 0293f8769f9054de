from tests.world import login_via_form


def test_healthz_touches_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.data == b"ok"


def test_each_role_logs_in_and_reaches_its_home(client, make_user):
    homes = {"admin": "/admin/", "provider": "/home", "member": "/schedule"}
    for role, home in homes.items():
        user = make_user(role)
        response = login_via_form(client, user.email)
        assert response.status_code == 302
        assert client.get("/").headers["Location"].endswith(home)
        page = client.get(home)
        assert page.status_code == 200
        client.post("/logout")
