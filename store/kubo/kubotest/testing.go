package kubotest

import (
	"errors"
	"os"
	"sync"
	"testing"
)

// BinaryEnv names the environment variable that holds the kubo binary tests use; the Makefile
// builds kubo to .cache/bin/ipfs and sets it.
const BinaryEnv = "RREC_IPFS"

// Binary returns the kubo binary named by RREC_IPFS. Without one the test is skipped, or fails
// when CI=true, where kubo must be there.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(BinaryEnv)
	if bin == "" {
		msg := BinaryEnv + " is not set: run `make test`, which builds kubo to .cache/bin/ipfs and sets it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// InitT creates a repo (see Init) in a temporary directory, without a daemon.
func InitT(t testing.TB, opts Options) *Repo {
	t.Helper()
	r, err := Init(t.Context(), Binary(t), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// StartT starts a daemon (see Start) on a repo in a temporary directory; it is stopped when the
// test ends.
func StartT(t testing.TB, opts Options) *Daemon {
	t.Helper()
	return StartAllT(t, 1, opts)[0]
}

// StartAllT starts n daemons at once, each as StartT does.
func StartAllT(t testing.TB, n int, opts Options) []*Daemon {
	t.Helper()
	bin := Binary(t)
	ds := make([]*Daemon, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ds {
		dir := t.TempDir()
		wg.Go(func() { ds[i], errs[i] = Start(t.Context(), bin, dir, opts) })
	}
	wg.Wait()
	for _, d := range ds {
		if d != nil {
			t.Cleanup(d.Stop)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ds
}

// RunT runs `ipfs args...` on the repo (see Run) and fails the test if the command fails.
func (r *Repo) RunT(t testing.TB, args ...string) string {
	t.Helper()
	out, err := r.Run(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
