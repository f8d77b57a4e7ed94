def test_login_and_me(api_client, owner):
    response = api_client.post(
        "/api/auth/login/", {"email": owner.user.email, "password": "Sturdy-Passw0rd!"}
    )
    assert response.status_code == 200, response.data
    access = response.data["tokens"]["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    me = api_client.get("/api/users/me/")
    assert me.status_code == 200
    assert me.data["email"] == owner.user.email
