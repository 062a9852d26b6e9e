// golang.org/x/oauth2 (Debian's golang-golang-x-oauth2-dev), the library glab and git-credential-oauth
// sign in with, driven against a running gatehouse by test/clients/go-oauth2.test.ts.
//
// For each public client named on the command line (client id and redirect URI), it runs the
// authorization code flow with PKCE S256 and a state as those tools do, with the library's default
// client authentication (auto-detect: `Authorization: Basic base64(client_id:)` first), calls the API
// with the token, then lets the library refresh an expired token. It prints {"authorize": url} and
// reads back the URL the browser was redirected to; at the end it prints {"results": [...]}.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"golang.org/x/oauth2"
)

type result struct {
	Client            string `json:"client"`
	TokenType         string `json:"token_type"`
	HasRefresh        bool   `json:"has_refresh"`
	ExpiresInFuture   bool   `json:"expires_in_future"`
	User              string `json:"user"`
	Refreshed         bool   `json:"refreshed"`
	UserAfterRefresh  string `json:"user_after_refresh"`
	OldTokenAfterward int    `json:"old_token_afterward"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func random() string {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		fail(err)
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

func username(client *http.Client, base string) string {
	response, err := client.Get(base + "/api/v4/user")
	if err != nil {
		fail(err)
	}
	defer response.Body.Close()
	var user struct {
		Username string `json:"username"`
	}
	if err := json.NewDecoder(response.Body).Decode(&user); err != nil {
		fail(err)
	}
	return user.Username
}

func main() {
	base := os.Getenv("GATEHOUSE_URL")
	scanner := bufio.NewScanner(os.Stdin)
	var results []result
	for i := 1; i+2 < len(os.Args)+1; i += 3 {
		name, clientID, redirect := os.Args[i], os.Args[i+1], os.Args[i+2]
		config := &oauth2.Config{
			ClientID:    clientID,
			RedirectURL: redirect,
			Scopes:      []string{"openid", "profile", "read_user", "write_repository", "api"},
			Endpoint:    oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token"},
		}
		verifier := random()
		sum := sha256.Sum256([]byte(verifier))
		state := random()
		authURL := config.AuthCodeURL(state,
			oauth2.SetAuthURLParam("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:])),
			oauth2.SetAuthURLParam("code_challenge_method", "S256"))
		out, _ := json.Marshal(map[string]string{"authorize": authURL})
		fmt.Println(string(out))
		if !scanner.Scan() {
			fail(fmt.Errorf("no callback"))
		}
		var answer struct {
			RedirectedTo string `json:"redirected_to"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &answer); err != nil {
			fail(err)
		}
		callback, err := url.Parse(answer.RedirectedTo)
		if err != nil {
			fail(err)
		}
		if callback.Query().Get("state") != state {
			fail(fmt.Errorf("state mismatch"))
		}
		ctx := context.Background()
		token, err := config.Exchange(ctx, callback.Query().Get("code"), oauth2.SetAuthURLParam("code_verifier", verifier))
		if err != nil {
			fail(err)
		}
		r := result{Client: name, TokenType: token.TokenType, HasRefresh: token.RefreshToken != "", ExpiresInFuture: token.Expiry.After(time.Now())}
		r.User = username(config.Client(ctx, token), base)
		// As glab does with a stored token past oauth2_expiry_date: the library refreshes it.
		expired := *token
		expired.Expiry = time.Now().Add(-time.Minute)
		source := config.TokenSource(ctx, &expired)
		fresh, err := source.Token()
		if err != nil {
			fail(err)
		}
		r.Refreshed = fresh.AccessToken != token.AccessToken && fresh.RefreshToken != token.RefreshToken
		r.UserAfterRefresh = username(oauth2.NewClient(ctx, source), base)
		request, _ := http.NewRequest("GET", base+"/api/v4/user", nil)
		request.Header.Set("Authorization", "Bearer "+token.AccessToken)
		response, err := http.DefaultClient.Do(request)
		if err != nil {
			fail(err)
		}
		response.Body.Close()
		r.OldTokenAfterward = response.StatusCode
		results = append(results, r)
	}
	out, _ := json.Marshal(map[string]interface{}{"results": results})
	fmt.Println(string(out))
}
