package app

import (
	"net/http"

	"github.com/resilientrecords/resilientrecords/identity"
)

// contactView is one contact as the pages show it.
type contactView struct {
	Name     string `json:"name"`
	Identity string `json:"identity"`
}

func (a *App) listContacts(w http.ResponseWriter, r *http.Request) {
	out := []contactView{}
	for _, c := range a.book.All() {
		out = append(out, contactView{Name: c.Name, Identity: c.Identity.String()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *App) addContact(w http.ResponseWriter, r *http.Request) {
	var req contactView
	if !readJSON(w, r, &req) {
		return
	}
	pub, err := identity.ParsePublic(req.Identity)
	if err != nil {
		badRequest(w, "That is not a complete identity: it should start with rrec1 and be copied whole from the person.")
		return
	}
	if err := a.book.Add(req.Name, pub); err != nil {
		badRequest(w, "That name cannot be used: "+err.Error()+".")
		return
	}
	writeJSON(w, http.StatusCreated, contactView{Name: req.Name, Identity: pub.String()})
}

func (a *App) removeContact(w http.ResponseWriter, r *http.Request) {
	ok, err := a.book.Remove(r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !ok {
		writeProblem(w, http.StatusNotFound, "not_found", "There is no contact of that name.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": r.PathValue("name")})
}
