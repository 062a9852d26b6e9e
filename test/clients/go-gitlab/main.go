// go-gitlab (the real library, as Debian packages it) driven against a running gatehouse.
//
// Built and run by test/clients/go-gitlab.test.ts with GITLAB_URL, GITLAB_TOKEN and SSH_KEY set; prints
// one JSON object of what the library returned, for the test to check field by field. go-gitlab decodes
// every answer into typed structs, so a field of the wrong type or a date in the wrong format fails here.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/xanzy/go-gitlab"
)

func must[T any](value T, _ *gitlab.Response, err error) T {
	if err != nil {
		fail(err)
	}
	return value
}

func mustDo(_ *gitlab.Response, err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// errorOf is what go-gitlab reports for a refused call: the status and GitLab's message.
func errorOf(_ any, resp *gitlab.Response, err error) map[string]any {
	var apiErr *gitlab.ErrorResponse
	if !errors.As(err, &apiErr) {
		fail(fmt.Errorf("expected an API error, got %v", err))
	}
	return map[string]any{"code": resp.StatusCode, "message": apiErr.Message}
}

func main() {
	url, token := os.Getenv("GITLAB_URL"), os.Getenv("GITLAB_TOKEN")
	git, err := gitlab.NewClient(token, gitlab.WithBaseURL(url))
	if err != nil {
		fail(err)
	}
	out := map[string]any{}

	version := must(git.Version.GetVersion())
	out["version"] = []string{version.Version, version.Revision}
	me := must(git.Users.CurrentUser())
	out["current_user"] = map[string]any{"username": me.Username, "is_admin": me.IsAdmin, "has_created_at": me.CreatedAt != nil}

	// Users, and pagination by the headers go-gitlab reads (x-next-page, x-total, x-total-pages).
	var created []*gitlab.User
	for i := 0; i < 3; i++ {
		created = append(created, must(git.Users.CreateUser(&gitlab.CreateUserOptions{
			Username:         gitlab.String(fmt.Sprintf("go_user_%d", i)),
			Name:             gitlab.String(fmt.Sprintf("Go User %d", i)),
			Email:            gitlab.String(fmt.Sprintf("go%d@golang.test", i)),
			Password:         gitlab.String("long-enough-password"),
			SkipConfirmation: gitlab.Bool(true),
		})))
	}
	var usernames []string
	pages := 0
	options := &gitlab.ListUsersOptions{ListOptions: gitlab.ListOptions{PerPage: 2, Page: 1}}
	var total, totalPages int
	for {
		users, resp, err := git.Users.ListUsers(options)
		if err != nil {
			fail(err)
		}
		pages++
		total, totalPages = resp.TotalItems, resp.TotalPages
		for _, u := range users {
			usernames = append(usernames, u.Username)
		}
		if resp.NextPage == 0 {
			break
		}
		options.Page = resp.NextPage
	}
	sort.Strings(usernames)
	out["pagination"] = map[string]any{"usernames": usernames, "pages": pages, "total": total, "total_pages": totalPages}
	alice := created[0]
	renamed := must(git.Users.ModifyUser(alice.ID, &gitlab.ModifyUserOptions{Name: gitlab.String("Go Alice")}))
	out["renamed"] = renamed.Name
	if err := git.Users.BlockUser(alice.ID); err != nil {
		fail(err)
	}
	out["blocked_state"] = must(git.Users.GetUser(alice.ID, gitlab.GetUsersOptions{})).State
	if err := git.Users.UnblockUser(alice.ID); err != nil {
		fail(err)
	}
	out["unblocked_state"] = must(git.Users.GetUser(alice.ID, gitlab.GetUsersOptions{})).State

	// Personal access tokens: expires_at is an ISO date here.
	expires := gitlab.ISOTime(time.Now().AddDate(0, 0, 30))
	pat := must(git.Users.CreatePersonalAccessToken(alice.ID, &gitlab.CreatePersonalAccessTokenOptions{
		Name: gitlab.String("go token"), Scopes: &[]string{"api", "read_user"}, ExpiresAt: &expires,
	}))
	out["pat"] = map[string]any{"name": pat.Name, "scopes": pat.Scopes, "active": pat.Active, "token_prefix": pat.Token[:6], "expires_at": pat.ExpiresAt.String()}
	asAlice, _ := gitlab.NewClient(pat.Token, gitlab.WithBaseURL(url))
	out["as_alice"] = must(asAlice.Users.CurrentUser()).Username
	var names []string
	for _, t := range must(git.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{UserID: gitlab.Int(alice.ID)})) {
		names = append(names, t.Name)
	}
	out["alice_tokens"] = names
	mustDo(git.PersonalAccessTokens.RevokePersonalAccessToken(pat.ID))
	out["revoked_auth"] = errorOf(asAlice.Users.CurrentUser())

	// Impersonation tokens: go-gitlab sends expires_at as a full RFC 3339 time (clients.md §3.3).
	in30 := time.Now().AddDate(0, 0, 30).UTC().Truncate(24 * time.Hour)
	imp := must(git.Users.CreateImpersonationToken(alice.ID, &gitlab.CreateImpersonationTokenOptions{
		Name: gitlab.String("go impersonation"), Scopes: &[]string{"api"}, ExpiresAt: &in30,
	}))
	out["impersonation"] = map[string]any{"name": imp.Name, "active": imp.Active, "expires_at": time.Time(*imp.ExpiresAt).Format("2006-01-02") == in30.Format("2006-01-02")}
	var active []string
	for _, t := range must(git.Users.GetAllImpersonationTokens(alice.ID, &gitlab.GetAllImpersonationTokensOptions{State: gitlab.String("active")})) {
		active = append(active, t.Name)
	}
	out["impersonation_list"] = active
	mustDo(git.Users.RevokeImpersonationToken(alice.ID, imp.ID))
	out["impersonation_after_revoke"] = must(git.Users.GetImpersonationToken(alice.ID, imp.ID)).Revoked

	// SSH keys.
	key := must(git.Users.AddSSHKey(&gitlab.AddSSHKeyOptions{Title: gitlab.String("go laptop"), Key: gitlab.String(os.Getenv("SSH_KEY"))}))
	var titles []string
	for _, k := range must(git.Users.ListSSHKeys()) {
		titles = append(titles, k.Title)
	}
	out["own_key"] = map[string]any{"title": key.Title, "listed": titles, "has_created_at": key.CreatedAt != nil}
	mustDo(git.Users.DeleteSSHKey(key.ID))
	out["own_keys_after_delete"] = len(must(git.Users.ListSSHKeys()))

	// Groups and projects.
	group := must(git.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.String("Go Group"), Path: gitlab.String("go-group")}))
	member := must(git.GroupMembers.AddGroupMember(group.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Int(alice.ID), AccessLevel: gitlab.AccessLevel(gitlab.DeveloperPermissions)}))
	updated := must(git.Groups.UpdateGroup(group.ID, &gitlab.UpdateGroupOptions{Description: gitlab.String("made by go-gitlab")}))
	out["group"] = map[string]any{"full_path": group.FullPath, "member_access": int(member.AccessLevel), "description": updated.Description}
	project := must(git.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.String("Go Project"), NamespaceID: gitlab.Int(group.ID)}))
	byPath := must(git.Projects.GetProject("go-group/go-project", nil))
	out["project"] = map[string]any{"path_with_namespace": project.PathWithNamespace, "by_path": byPath.ID == project.ID, "default_branch": project.DefaultBranch}
	out["archived"] = must(git.Projects.ArchiveProject(project.ID)).Archived
	out["unarchived"] = must(git.Projects.UnarchiveProject(project.ID)).Archived

	// Kubernetes agents and their tokens, in the project.
	agent := must(git.ClusterAgents.RegisterAgent(project.ID, &gitlab.RegisterAgentOptions{Name: gitlab.String("go-agent")}))
	agentToken := must(git.ClusterAgents.CreateAgentToken(project.ID, agent.ID, &gitlab.CreateAgentTokenOptions{Name: gitlab.String("go agent token"), Description: gitlab.String("for the go cluster")}))
	shownAgent := must(git.ClusterAgents.GetAgent(project.ID, agent.ID))
	var tokenStatuses []string
	for _, t := range must(git.ClusterAgents.ListAgentTokens(project.ID, agent.ID, nil)) {
		tokenStatuses = append(tokenStatuses, t.Name+":"+t.Status)
	}
	out["agent"] = map[string]any{
		"name": agent.Name, "config_project": shownAgent.ConfigProject.PathWithNamespace, "created_by_root": shownAgent.CreatedByUserID == me.ID,
		"listed": len(must(git.ClusterAgents.ListAgents(project.ID, nil))), "token_prefix": agentToken.Token[:8], "token_agent": agentToken.AgentID == agent.ID,
		"tokens": tokenStatuses,
	}
	mustDo(git.ClusterAgents.RevokeAgentToken(project.ID, agent.ID, agentToken.ID))
	out["agent_token_after_revoke"] = errorOf(git.ClusterAgents.GetAgentToken(project.ID, agent.ID, agentToken.ID))
	mustDo(git.ClusterAgents.DeleteAgent(project.ID, agent.ID))
	out["agents_after_delete"] = len(must(git.ClusterAgents.ListAgents(project.ID, nil)))

	// Lists, members and deletion, as scripts do after creating things.
	var groupPaths []string
	for _, g := range must(git.Groups.ListGroups(&gitlab.ListGroupsOptions{Search: gitlab.String("go-group")})) {
		groupPaths = append(groupPaths, g.FullPath)
	}
	out["groups_listed"] = groupPaths
	doomedProject := must(git.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.String("go-doomed-project"), NamespaceID: gitlab.Int(group.ID)}))
	var projectPaths []string
	listProjects := &gitlab.ListProjectsOptions{Search: gitlab.String("go-"), ListOptions: gitlab.ListOptions{PerPage: 1}}
	projectPages := 0
	for {
		page, listed, err := git.Projects.ListProjects(listProjects)
		if err != nil {
			fail(err)
		}
		projectPages++
		for _, p := range page {
			projectPaths = append(projectPaths, p.PathWithNamespace)
		}
		if listed.NextPage == 0 {
			break
		}
		listProjects.Page = listed.NextPage
	}
	out["projects_listed"] = map[string]any{"paths": projectPaths, "pages": projectPages}
	edited := must(git.GroupMembers.EditGroupMember(group.ID, alice.ID, &gitlab.EditGroupMemberOptions{AccessLevel: gitlab.AccessLevel(gitlab.MaintainerPermissions)}))
	var groupMembers []any
	for _, m := range must(git.Groups.ListGroupMembers(group.ID, nil)) {
		groupMembers = append(groupMembers, []any{m.Username, int(m.AccessLevel)})
	}
	out["group_members"] = map[string]any{"edited": int(edited.AccessLevel), "listed": groupMembers}
	var allMembers []string
	for _, m := range must(git.ProjectMembers.ListAllProjectMembers(project.ID, nil)) {
		allMembers = append(allMembers, m.Username)
	}
	out["project_members_all"] = allMembers
	out["missing_member"] = errorOf(git.GroupMembers.GetGroupMember(group.ID, 999999))
	mustDo(git.GroupMembers.RemoveGroupMember(group.ID, alice.ID, nil))
	out["group_members_after_delete"] = len(must(git.Groups.ListGroupMembers(group.ID, nil)))
	doomedGroup := must(git.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.String("Go Doomed"), Path: gitlab.String("go-doomed")}))
	groupDeleted, err := git.Groups.DeleteGroup(doomedGroup.ID)
	if err != nil {
		fail(err)
	}
	projectDeleted, err := git.Projects.DeleteProject(doomedProject.ID)
	if err != nil {
		fail(err)
	}
	out["deleted"] = map[string]any{
		"group_status": groupDeleted.StatusCode, "group_marked": must(git.Groups.GetGroup(doomedGroup.ID, nil)).MarkedForDeletionOn != nil,
		"project_status": projectDeleted.StatusCode, "project_marked": must(git.Projects.GetProject(doomedProject.ID, nil)).MarkedForDeletionAt != nil,
	}

	// OAuth applications.
	app := must(git.Applications.CreateApplication(&gitlab.CreateApplicationOptions{
		Name: gitlab.String("Go App"), RedirectURI: gitlab.String("https://go.test/callback"), Scopes: gitlab.String("api read_user"),
	}))
	out["application"] = map[string]any{"name": app.ApplicationName, "has_secret": app.Secret != "", "listed": len(must(git.Applications.ListApplications(nil)))}
	mustDo(git.Applications.DeleteApplication(app.ID))
	out["applications_after_delete"] = len(must(git.Applications.ListApplications(nil)))

	// Errors carry GitLab's messages.
	out["missing_user"] = errorOf(git.Users.GetUser(999999, gitlab.GetUsersOptions{}))
	out["duplicate_user"] = errorOf(git.Users.CreateUser(&gitlab.CreateUserOptions{
		Username: gitlab.String("go_user_0"), Name: gitlab.String("Dup"), Email: gitlab.String("dup@golang.test"), Password: gitlab.String("long-enough-password"),
	}))

	// Deleting a user answers 204.
	resp, err := git.Users.DeleteUser(created[2].ID)
	if err != nil {
		fail(err)
	}
	out["delete_status"] = resp.StatusCode == http.StatusNoContent

	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}
