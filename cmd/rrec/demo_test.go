package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDemoCleanUp: --keep keeps the whole directory whether the demo failed or not, a
// failure keeps the nodes' log, a success keeps nothing.
func TestDemoCleanUp(t *testing.T) {
	for _, c := range []struct {
		name                   string
		failed, keep, verbose  bool
		wantDir, wantLog, more bool
	}{
		{name: "success", wantDir: false},
		{name: "success kept", keep: true, wantDir: true, wantLog: true, more: true},
		{name: "failure", failed: true, wantDir: true, wantLog: true},
		{name: "failure kept", failed: true, keep: true, wantDir: true, wantLog: true, more: true},
		{name: "failure verbose", failed: true, verbose: true, wantDir: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			logPath := filepath.Join(dir, "nodes.log")
			other := filepath.Join(dir, "net", "node0", "state")
			for _, p := range []string{logPath, other} {
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cleanUp(dir, logPath, c.failed, c.keep, c.verbose)
			exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
			if exists(dir) != c.wantDir || exists(logPath) != c.wantLog || exists(other) != c.more {
				t.Fatalf("dir %v, log %v, the rest %v; want %v, %v, %v",
					exists(dir), exists(logPath), exists(other), c.wantDir, c.wantLog, c.more)
			}
		})
	}
}
