"""
python-gitlab (the real library, as Debian packages it) driven against a running gatehouse.

Run by test/clients/python-gitlab.test.ts with GITLAB_URL, GITLAB_TOKEN, SSH_KEY and PAT_EXPIRES_AT set; prints one
JSON object of what the library returned, for the test to check field by field. Each step is what a
python-gitlab user writes; nothing here talks HTTP itself.
"""
import json
import os
import sys
import warnings

import gitlab

# python-gitlab warns (UserWarning) when a Link header points away from the configured URL: fail on it.
warnings.simplefilter("error", UserWarning)

url = os.environ["GITLAB_URL"]
out = {}
gl = gitlab.Gitlab(url, private_token=os.environ["GITLAB_TOKEN"])

# What the CLI does before every command.
gl.auth()
out["auth_user"] = {"username": gl.user.username, "is_admin": gl.user.is_admin}
out["version"] = list(gl.version())

# Users, and pagination the way the library follows it (Link rel="next", x-total headers).
created = [
    gl.users.create({"username": f"py_user_{i}", "name": f"Py User {i}", "email": f"py{i}@python.test", "password": "long-enough-password", "skip_confirmation": True})
    for i in range(3)
]
out["created_users"] = [{"username": u.username, "state": u.state} for u in created]
everyone = gl.users.list(per_page=2, get_all=True)
out["all_usernames"] = sorted(u.username for u in everyone)
page = gl.users.list(per_page=2, iterator=True)
out["pagination"] = {"total": page.total, "total_pages": page.total_pages, "per_page": page.per_page, "iterated": len(list(page))}
out["by_username"] = [u.username for u in gl.users.list(username="py_user_1")]
alice = created[0]
alice.name = "Py Alice"
alice.save()
out["renamed"] = gl.users.get(alice.id).name
alice.block()
out["blocked_state"] = gl.users.get(alice.id).state
alice.unblock()
out["unblocked_state"] = gl.users.get(alice.id).state

# Personal access tokens: an admin creates one for a user, lists, revokes.
pat = alice.personal_access_tokens.create({"name": "py token", "scopes": ["api", "read_user"], "expires_at": os.environ["PAT_EXPIRES_AT"]})
out["pat"] = {"name": pat.name, "scopes": pat.scopes, "active": pat.active, "token_prefix": pat.token[:6], "expires_at": pat.expires_at}
as_alice = gitlab.Gitlab(url, private_token=pat.token)
as_alice.auth()
out["as_alice"] = as_alice.user.username
out["alice_tokens"] = [t.name for t in gl.personal_access_tokens.list(user_id=alice.id)]
gl.personal_access_tokens.delete(pat.id)
try:
    gitlab.Gitlab(url, private_token=pat.token).auth()
    out["revoked_auth"] = "accepted"
except gitlab.exceptions.GitlabAuthenticationError as error:
    out["revoked_auth"] = {"code": error.response_code, "message": error.error_message}

# Impersonation tokens.
imp = alice.impersonationtokens.create({"name": "py impersonation", "scopes": ["api"]})
out["impersonation"] = {"name": imp.name, "impersonation": imp.impersonation, "active": imp.active}
out["impersonation_list"] = [t.name for t in alice.impersonationtokens.list(state="active")]
alice.impersonationtokens.delete(imp.id)
out["impersonation_after_revoke"] = alice.impersonationtokens.get(imp.id).revoked

# SSH keys: one's own, and a user's (admin).
key = gl.user.keys.create({"title": "py laptop", "key": os.environ["SSH_KEY"]})
out["own_key"] = {"title": key.title, "listed": [k.title for k in gl.user.keys.list()]}
key.delete()
out["own_keys_after_delete"] = [k.title for k in gl.user.keys.list()]

# Groups and projects.
group = gl.groups.create({"name": "Py Group", "path": "py-group"})
group.members.create({"user_id": alice.id, "access_level": gitlab.const.AccessLevel.DEVELOPER})
group.description = "made by python-gitlab"
group.save()
out["group"] = {"full_path": group.full_path, "description": gl.groups.get(group.id).description}
project = gl.projects.create({"name": "Py Project", "namespace_id": group.id})
out["project"] = {"path_with_namespace": project.path_with_namespace, "by_path": gl.projects.get("py-group/py-project").id == project.id}
project.archive()
out["archived"] = gl.projects.get(project.id).archived
project.unarchive()
out["unarchived"] = gl.projects.get(project.id).archived

# Lists, members and deletion: what scripts do after creating things.
out["groups_listed"] = [g.full_path for g in gl.groups.list(search="py-group", get_all=True)]
out["projects_listed"] = [p.path_with_namespace for p in gl.projects.list(search="py-project", get_all=True)]
out["owned_projects"] = [p.path_with_namespace for p in gl.projects.list(owned=True, simple=True, get_all=True)]
out["group_projects"] = [p.path for p in group.projects.list(get_all=True)]
member = group.members.get(alice.id)
member.access_level = gitlab.const.AccessLevel.MAINTAINER
member.save()
out["group_members"] = [(m.username, m.access_level) for m in group.members.list(get_all=True)]
out["project_members_all"] = [(m.username, m.access_level) for m in project.members_all.list(get_all=True)]
try:
    group.members.get(999999)
except gitlab.exceptions.GitlabGetError as error:
    out["missing_member"] = {"code": error.response_code, "message": error.error_message}
group.members.delete(alice.id)
out["group_members_after_delete"] = [m.username for m in group.members.list(get_all=True)]
doomed_group = gl.groups.create({"name": "Py Doomed", "path": "py-doomed"})
gl.groups.delete(doomed_group.id)
out["doomed_group"] = gl.groups.get(doomed_group.id).marked_for_deletion_on is not None
doomed_project = gl.projects.create({"name": "py-doomed-project"})
doomed_project.delete()
out["doomed_project"] = gl.projects.get(doomed_project.id).marked_for_deletion_on is not None

# OAuth applications (scopes as GitLab's space-separated string).
app = gl.applications.create({"name": "Py App", "redirect_uri": "https://py.test/callback", "scopes": "api read_user"})
out["application"] = {"name": app.application_name, "has_secret": bool(app.secret), "listed": [a.application_name for a in gl.applications.list()]}
gl.applications.delete(app.id)
out["applications_after_delete"] = [a.application_name for a in gl.applications.list()]

# Errors carry GitLab's messages into the library's exceptions.
try:
    gl.users.get(999999)
except gitlab.exceptions.GitlabGetError as error:
    out["missing_user"] = {"code": error.response_code, "message": error.error_message}
try:
    gl.users.create({"username": "py_user_0", "name": "Dup", "email": "dup@python.test", "password": "long-enough-password"})
except gitlab.exceptions.GitlabCreateError as error:
    out["duplicate_user"] = {"code": error.response_code, "message": error.error_message}

# Deleting a user answers 204, which the library takes as success.
gl.users.delete(created[2].id)
out["after_delete"] = sorted(u.username for u in gl.users.list(get_all=True))

json.dump(out, sys.stdout)
