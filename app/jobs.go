package app

import (
	"net/http"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
)

// A job is one long transfer (an upload, or opening a record) that the page follows by
// polling its progress. The page names it (a random id it makes), so that it can poll while
// the request that does the work is still running.
type job struct {
	Phase string `json:"phase"` // "receive" (the browser sends), "seal", "upload"; "fetch", "open"
	Done  int64  `json:"done"`
	Total int64  `json:"total"`

	file     string // a download waiting to be saved: plaintext, under jobs.dir
	name     string
	typ      string
	finished time.Time
}

// jobs keeps each job's progress, and the downloads waiting to be saved, for a while.
type jobs struct {
	dir string // private directory (0700) for downloads

	mu sync.Mutex
	m  map[string]*job
}

// keepFor is how long a finished job's progress and its download are kept.
const keepFor = 10 * time.Minute

// maxJobs bounds what a page that never saves its downloads can pile up.
const maxJobs = 64

var jobID = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

func newJobs(tmp string) (*jobs, error) {
	dir, err := os.MkdirTemp(tmp, "rrec-app-*")
	if err != nil {
		return nil, err
	}
	return &jobs{dir: dir, m: map[string]*job{}}, nil
}

// start registers job id; false if the id is malformed, taken or too many jobs are kept.
func (j *jobs) start(id string) bool {
	if !jobID.MatchString(id) {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.expireLocked()
	if _, taken := j.m[id]; taken || len(j.m) >= maxJobs {
		return false
	}
	j.m[id] = &job{Phase: "receive"}
	return true
}

// report is the client.WithProgress hook of job id.
func (j *jobs) report(id string) func(client.Progress) {
	return func(p client.Progress) {
		j.mu.Lock()
		defer j.mu.Unlock()
		if jb := j.m[id]; jb != nil {
			jb.Phase, jb.Done, jb.Total = p.Phase, p.Done, p.Total
		}
	}
}

// finish marks job id done, with the download it left (file "": none).
func (j *jobs) finish(id, file, name, typ string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if jb := j.m[id]; jb != nil {
		jb.Phase, jb.finished, jb.file, jb.name, jb.typ = "done", time.Now(), file, name, typ
	}
}

// fail forgets job id and its file.
func (j *jobs) fail(id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if jb := j.m[id]; jb != nil && jb.file != "" {
		os.Remove(jb.file)
	}
	delete(j.m, id)
}

func (j *jobs) get(id string) (job, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb, ok := j.m[id]
	if !ok {
		return job{}, false
	}
	return *jb, true
}

// take hands over job id's download: the caller serves the file, then removes it.
func (j *jobs) take(id string) (job, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb, ok := j.m[id]
	if !ok || jb.file == "" {
		return job{}, false
	}
	delete(j.m, id)
	return *jb, true
}

func (j *jobs) expireLocked() {
	for id, jb := range j.m {
		if !jb.finished.IsZero() && time.Since(jb.finished) > keepFor {
			if jb.file != "" {
				os.Remove(jb.file)
			}
			delete(j.m, id)
		}
	}
}

func (j *jobs) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.m = map[string]*job{}
	return os.RemoveAll(j.dir)
}

func (a *App) progress(w http.ResponseWriter, r *http.Request) {
	jb, ok := a.jobs.get(r.PathValue("job"))
	if !ok {
		writeProblem(w, http.StatusNotFound, "not_found", "No such transfer: it finished a while ago or never started.")
		return
	}
	writeJSON(w, http.StatusOK, jb)
}
