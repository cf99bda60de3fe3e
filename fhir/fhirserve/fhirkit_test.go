package fhirserve_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// fhirKitDir holds a FHIR client from npm (fhir-kit-client, pinned by the lock file). It is
// installed by 'npm ci' there; without it, or without Node.js, the test reads with plain
// HTTP alone and says so.
const fhirKitDir = "testdata/fhirkit"

// fhirKit runs read.mjs with args and decodes the JSON line it prints into out. It returns
// false when the client is not installed.
func (w *world) fhirKit(out any, args ...string) bool {
	w.t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		w.t.Logf("no Node.js: the FHIR client test of %v is skipped", args)
		return false
	}
	if _, err := os.Stat(filepath.Join(fhirKitDir, "node_modules", "fhir-kit-client")); err != nil {
		if os.Getenv("CI") != "" {
			w.t.Fatalf("fhir-kit-client is not installed in %s: 'make test' installs it", fhirKitDir)
		}
		w.t.Logf("fhir-kit-client is not installed ('npm ci' in %s): the FHIR client test of %v is skipped", fhirKitDir, args)
		return false
	}
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"read.mjs"}, args...)...)
	cmd.Dir = fhirKitDir
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		w.t.Fatalf("fhir-kit-client %v: %v\n%s", args, err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		w.t.Fatalf("fhir-kit-client %v printed %q: %v", args, b, err)
	}
	return true
}
