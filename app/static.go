package app

import (
	"embed"
	"io/fs"
	"net/http"
)

// The pages: plain HTML, CSS and JavaScript, embedded so that the app works offline and
// nothing is fetched from anywhere else at run time.
//
//go:embed static
var static embed.FS

func staticHandler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, http.StatusMethodNotAllowed, "bad_request", "Pages can only be read.")
			return
		}
		files.ServeHTTP(w, r)
	})
}
