"""
Real OAuth client libraries against gatehouse: authlib (authorization code + PKCE S256 found through
discovery, ID token verified against the JWKS, refresh, API and userinfo calls, revocation) and
requests-oauthlib (authorization code for a confidential client, refresh, API call).

Talks to the test over stdin/stdout, one JSON object per line: it prints {"authorize": url} and reads
back the URL the browser was redirected to; at the end it prints {"results": {...}}.
"""
import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.jose import JsonWebKey, jwt
from authlib.common.security import generate_token
from requests_oauthlib import OAuth2Session as OauthlibSession

base, public_id, confidential_id, confidential_secret, redirect_uri = sys.argv[1:6]


def browser(url):
    print(json.dumps({"authorize": url}), flush=True)
    return json.loads(sys.stdin.readline())["redirected_to"]


results = {}
discovery = requests.get(f"{base}/.well-known/openid-configuration").json()
results["issuer"] = discovery["issuer"]

# --- authlib: public client, PKCE S256, OpenID Connect ------------------------------------------
session = AuthlibSession(public_id, scope="openid profile email api read_user", redirect_uri=redirect_uri, code_challenge_method="S256")
verifier = generate_token(48)
nonce = generate_token(16)
url, state = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
callback = browser(url)
token = session.fetch_token(discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state)
results["authlib_token_keys"] = sorted(token.keys())
results["authlib_scope"] = token["scope"]
jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"]).json())
claims = jwt.decode(token["id_token"], jwks, claims_options={"iss": {"essential": True, "value": discovery["issuer"]}, "aud": {"essential": True, "value": public_id}})
claims.validate()
results["id_token"] = {"sub": claims["sub"], "nonce_matches": claims.get("nonce") == nonce, "preferred_username": claims["preferred_username"]}
results["authlib_user"] = session.get(f"{base}/api/v4/user").json()["username"]
results["authlib_userinfo"] = session.get(discovery["userinfo_endpoint"]).json()["preferred_username"]
old_access = token["access_token"]
refreshed = session.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
results["authlib_refreshed"] = refreshed["access_token"] != old_access
results["old_token_after_refresh"] = requests.get(f"{base}/api/v4/user", headers={"Authorization": f"Bearer {old_access}"}).status_code
results["authlib_user_after_refresh"] = session.get(f"{base}/api/v4/user").status_code
revoked = session.revoke_token(discovery["revocation_endpoint"], token=refreshed["access_token"], token_type_hint="access_token")
results["authlib_revoke_status"] = revoked.status_code
results["after_revoke"] = requests.get(f"{base}/api/v4/user", headers={"Authorization": f"Bearer {refreshed['access_token']}"}).status_code

# --- requests-oauthlib: confidential client, client_secret_post ---------------------------------
oauthlib = OauthlibSession(confidential_id, redirect_uri=redirect_uri, scope=["read_user"])
url, state = oauthlib.authorization_url(discovery["authorization_endpoint"])
callback = browser(url)
token = oauthlib.fetch_token(discovery["token_endpoint"], authorization_response=callback, client_secret=confidential_secret, include_client_id=True)
results["oauthlib_token_type"] = token["token_type"]
results["oauthlib_user"] = oauthlib.get(f"{base}/api/v4/user").json()["username"]
refreshed = oauthlib.refresh_token(discovery["token_endpoint"], client_id=confidential_id, client_secret=confidential_secret)
results["oauthlib_refreshed"] = refreshed["access_token"] != token["access_token"]
results["oauthlib_user_after_refresh"] = oauthlib.get(f"{base}/api/v4/user").json()["username"]

print(json.dumps({"results": results}), flush=True)
