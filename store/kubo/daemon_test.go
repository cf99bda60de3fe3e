package kubo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/store/kubo"
)

// ipfsBinary returns the kubo binary the Makefile builds (RREC_IPFS), or skips.
func ipfsBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RREC_IPFS")
	if bin == "" {
		msg := "RREC_IPFS is not set: run `make test`, which builds kubo v0.43.0 to .cache/bin/ipfs and sets it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// daemon is a kubo node in a fresh repo, listening on 127.0.0.1 only.
type daemon struct {
	bin  string
	repo string
	cmd  *exec.Cmd
	log  string
}

func ipfsEnv(repo string) []string {
	return append(os.Environ(), "IPFS_PATH="+repo, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1")
}

// initRepo creates a repo with the test profile: loopback addresses on random ports, no
// bootstrap peers, no MDNS, no AutoConf.
func initRepo(t *testing.T, bin string) string {
	t.Helper()
	repo := t.TempDir()
	run(t, bin, repo, "init", "--profile=test", "--empty-repo")
	return repo
}

func run(t *testing.T, bin, repo string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = ipfsEnv(repo)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startDaemon starts a daemon on a fresh repo; offline daemons have no swarm at all. The
// daemon is stopped (SIGTERM, then SIGKILL) in t.Cleanup.
func startDaemon(t *testing.T, online bool) *daemon {
	t.Helper()
	bin := ipfsBinary(t)
	d := &daemon{bin: bin, repo: initRepo(t, bin)}
	if online {
		// Peers are found only through explicit swarm connect; bitswap then asks them directly.
		run(t, bin, d.repo, "config", "Routing.Type", "none")
	}
	args := []string{"daemon"}
	if !online {
		args = append(args, "--offline")
	}
	d.log = filepath.Join(t.TempDir(), "daemon.log")
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = ipfsEnv(d.repo)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { d.cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("ipfs daemon exited early:\n%s", d.logText())
		default:
		}
		if s, err := kubo.NewFromRepo(d.repo, nil); err == nil {
			if _, err := s.List(context.Background()); err == nil {
				s.Close()
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipfs daemon not ready after 60s:\n%s", d.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) logText() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// store opens a Store on the daemon, closed in t.Cleanup.
func (d *daemon) store(t *testing.T, opts *kubo.Options) *kubo.Store {
	t.Helper()
	s, err := kubo.NewFromRepo(d.repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// swarmAddr returns the daemon's loopback swarm address with its peer ID.
func (d *daemon) swarmAddr(t *testing.T) string {
	t.Helper()
	id := strings.TrimSpace(run(t, d.bin, d.repo, "id", "-f", "<id>"))
	for _, a := range strings.Fields(run(t, d.bin, d.repo, "id", "-f", "<addrs>")) {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			if !strings.Contains(a, "/p2p/") {
				a += "/p2p/" + id
			}
			return a
		}
	}
	t.Fatalf("no loopback TCP swarm address for %s", id)
	return ""
}
