package app

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// tokenParam carries the session token in the URL 'rrec app' prints.
const tokenParam = "token"

// cookieName names the cookie the token is swapped for. Browsers do not separate cookies by
// port, so the port is in the name: two apps on one machine (a parent's and a child's
// identity) keep their own sessions.
func (a *App) cookieName() string {
	_, port, _ := strings.Cut(a.host, "]:")
	if port == "" {
		_, port, _ = strings.Cut(a.host, ":")
	}
	return "rrec_app_" + port
}

// sameOrigin refuses requests that another site made the browser send (an Origin other than
// this app's, or a cross-site fetch) and requests for another host name (DNS rebinding: a
// page at evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example).
func (a *App) sameOrigin(r *http.Request) (string, bool) {
	if r.Host != a.host {
		return "This app answers only at http://" + a.host + "/.", false
	}
	origin := r.Header.Get("Origin")
	switch {
	case origin != "" && origin != "http://"+a.host:
		return "Requests from other web sites are refused.", false
	case r.Header.Get("Sec-Fetch-Site") == "cross-site":
		return "Requests from other web sites are refused.", false
	case origin == "" && r.Method != http.MethodGet && r.Method != http.MethodHead:
		// Browsers send Origin with every POST; a request that changes something without
		// one did not come from this app's page.
		return "Requests that change something must come from the app's page.", false
	}
	return "", true
}

// authorised reports whether r carries the session token, in the cookie or, for scripts, as
// a bearer token. The comparison takes the same time wherever the first difference is.
func (a *App) authorised(r *http.Request) bool {
	var got string
	if c, err := r.Cookie(a.cookieName()); err == nil {
		got = c.Value
	} else if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = b
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) == 1
}

// exchangeToken takes the token from the URL, sets the cookie, and redirects to the same
// page without the token, so that it leaves the address bar and the history.
func (a *App) exchangeToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get(tokenParam)), []byte(a.token)) != 1 {
		a.log.Info("request refused", "path", r.URL.Path, "why", "wrong session token")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(noTokenPage))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(), Value: a.token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	q.Del(tokenParam)
	clean := *r.URL
	clean.RawQuery = q.Encode()
	http.Redirect(w, r, clean.RequestURI(), http.StatusSeeOther)
}

// secureHeaders keeps the page to its own scripts and styles, out of frames, and its
// answers out of caches.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

const noTokenPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Resilient Records — open the app's link</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5">
<h1>Open the link from 'rrec app'</h1>
<p>This page belongs to the Resilient Records app running on this computer. To keep other web
sites and other people on this machine out, it only opens from the link <code>rrec app</code>
printed when it started (it ends in <code>?token=…</code>). Copy that link into the address bar,
or start <code>rrec app</code> again for a new one.</p>
</body></html>
`
