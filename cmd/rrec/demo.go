package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newDemoCmd() *cobra.Command {
	var (
		sizeMiB int
		nodes   int
		keep    bool
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Tell the whole story on a fresh temporary network",
		Long: `demo starts a fresh local network in this process (embedded stores, in a temporary
directory), makes two identities — a patient and a doctor — and walks through put, grant,
get (hashes compared), a node stopped (cleanly, in this process) and restarted, revoke, a
refused get, erasure and the audit log, saying what happens at each step. It exits 0 only if
every step behaved as expected, and removes its directory.`,
		Example: `  rrec demo
  rrec demo --size 32 --nodes 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sizeMiB < 1 || sizeMiB > 1024 {
				return fmt.Errorf("--size %d: between 1 and 1024 MiB", sizeMiB)
			}
			if nodes < 1 || nodes > 16 {
				return fmt.Errorf("--nodes %d: between 1 and 16", nodes)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			dir, err := os.MkdirTemp("", "rrec-demo-")
			if err != nil {
				return err
			}
			// A failed run keeps the nodes' log (everything with --keep).
			d := &demo{out: cmd.OutOrStdout(), dir: dir, size: int64(sizeMiB) << 20, nodes: nodes, start: time.Now()}
			// The nodes log to a file in the directory (to stderr with -v); CometBFT is chatty
			// about every peer connection it closes.
			d.level = new(slog.LevelVar)
			logTo := io.Writer(cmd.ErrOrStderr())
			logPath := filepath.Join(dir, "nodes.log")
			if verbose {
				d.level.Set(slog.LevelInfo)
			} else {
				d.level.Set(slog.LevelWarn)
				lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
				if err != nil {
					return err
				}
				defer lf.Close()
				logTo = lf
			}
			d.log = slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: d.level}))
			err = d.run(ctx)
			if err != nil {
				fmt.Fprintf(d.out, "\nFAILED: %v\n", err)
			}
			if msg := cleanUp(dir, logPath, err != nil, keep, verbose); msg != "" {
				fmt.Fprintln(d.out, msg)
			}
			if err != nil {
				return errors.New("demo failed")
			}
			fmt.Fprintf(d.out, "\nEvery step behaved as expected (%.1f s).\n", time.Since(d.start).Seconds())
			return nil
		},
	}
	cmd.Flags().IntVar(&sizeMiB, "size", 8, "size of the demo record in `MiB`")
	cmd.Flags().IntVar(&nodes, "nodes", 4, "number of validator `N`odes")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log the nodes' activity to standard error")
	return cmd
}

type demo struct {
	out   io.Writer
	log   *slog.Logger
	level *slog.LevelVar
	dir   string
	size  int64
	nodes int
	start time.Time
	step  int
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.out, format+"\n", a...) }

func (d *demo) section(title string) {
	d.step++
	d.say("\n%d. %s", d.step, title)
}

// timed runs fn and reports how long it took.
func timed[T any](fn func() (T, error)) (T, time.Duration, error) {
	t := time.Now()
	v, err := fn()
	return v, time.Since(t), err
}

func (d *demo) run(ctx context.Context) error {
	d.say("Resilient Records — the whole story on a fresh local network")
	d.say("(working directory %s, removed at the end)", d.dir)

	d.section(fmt.Sprintf("Start a %d-node network in this process", d.nodes))
	nw, took, err := timed(func() (*node.LocalNet, error) {
		return node.StartLocalNet(ctx, filepath.Join(d.dir, "net"), node.LocalNetOptions{Validators: d.nodes, ChainID: "rr-demo", Logger: d.log, Admission: &node.LocalAdmission})
	})
	if err != nil {
		return fmt.Errorf("start network: %w", err)
	}
	defer func() {
		// CometBFT reports every peer connection it closes as an error: noise here.
		d.level.Set(slog.LevelError + 100)
		nw.Stop()
	}()
	desc, err := nw.Description()
	if err != nil {
		return err
	}
	f := (d.nodes - 1) / 3
	d.say("   chain %q is live after %s: %d validators, each a re-encryption proxy with an embedded block store.", nw.ChainID(), round(took), d.nodes)
	d.say("   It tolerates f = %d faulty node(s); a grant needs %d of %d nodes to re-encrypt.", f, 2*f+1, d.nodes)

	d.section("Make two identities")
	patient, err := identity.Generate()
	if err != nil {
		return err
	}
	doctor, err := identity.Generate()
	if err != nil {
		return err
	}
	d.say("   patient  %s", short(patient.Public().String()))
	d.say("   doctor   %s", short(doctor.Public().String()))
	opts := &client.Options{TempDir: d.dir, Logger: d.log}
	ps, err := client.New(desc, patient, opts)
	if err != nil {
		return err
	}
	ds, err := client.New(desc, doctor, opts)
	if err != nil {
		return err
	}

	d.section(fmt.Sprintf("The patient puts a record of %s (random bytes standing in for a scan)", size(d.size)))
	file := filepath.Join(d.dir, "scan.dcm")
	want, err := writeRandom(file, d.size)
	if err != nil {
		return err
	}
	rec, took, err := timed(func() (protocol.ID, error) {
		f, err := os.Open(file)
		if err != nil {
			return protocol.ID{}, err
		}
		defer f.Close()
		return ps.Put(ctx, f, d.size, envelope.Metadata{Name: "scan.dcm", MediaType: "application/dicom", Created: time.Now()})
	})
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	r, err := ps.Record(ctx, rec)
	if err != nil {
		return err
	}
	d.say("   sealed on this machine, stored by content address, committed in %s:", round(took))
	d.say("   record  %s", rec)
	d.say("   CID     %s  (%s sealed, block %d)", r.CID, size(int64(r.Size)), r.Height)
	d.say("   sha256  %x  (plaintext)", want)

	d.section("The patient grants the doctor access for an hour, for treatment")
	g, took, err := timed(func() (*client.GrantResult, error) {
		return ps.Grant(ctx, rec, doctor.Public(), client.GrantOptions{Duration: time.Hour, Purpose: "treatment"})
	})
	if err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	d.say("   grant   %s  committed at block %d in %s", g.Grant, g.Height, round(took))
	d.say("   %d of %d nodes hold a key fragment; the ledger holds only their commitments.", g.Accepted, len(g.Deposits))

	d.section("The doctor lists what is shared with them and reads the record")
	shared, err := ds.Shared(ctx)
	if err != nil {
		return fmt.Errorf("shared: %w", err)
	}
	if len(shared) != 1 || shared[0].Grant.ID != g.Grant || shared[0].Err != nil {
		return fmt.Errorf("the doctor should see exactly one live grant, got %d", len(shared))
	}
	d.say("   shared with the doctor: grant %s on record %s (%s)", short(g.Grant.String()), short(rec.String()), sharedStatus(shared[0].Err))
	got, took, err := timed(func() ([32]byte, error) { return d.get(ctx, ds, rec, "treatment") })
	if err != nil {
		return fmt.Errorf("doctor's get: %w", err)
	}
	if got != want {
		return fmt.Errorf("the doctor read different bytes: sha256 %x, want %x", got, want)
	}
	d.say("   access request committed, %d nodes re-encrypted, record opened in %s", 2*f+1, round(took))
	d.say("   sha256  %x  — identical to the patient's file", got)

	d.section("Someone without a grant tries to read it")
	stranger, err := identity.Generate()
	if err != nil {
		return err
	}
	ss, err := client.New(desc, stranger, opts)
	if err != nil {
		return err
	}
	if _, err := d.get(ctx, ss, rec, ""); !errors.Is(err, client.ErrNotGranted) {
		return fmt.Errorf("a stranger's get should be refused as not granted, got %v", err)
	} else {
		d.say("   refused, as expected: %v", explain(err, "record"))
	}

	if d.nodes >= 4 {
		down := d.nodes - 1
		d.section(fmt.Sprintf("Node %d stops; the doctor reads the record again", down))
		if err := nw.StopNode(down); err != nil {
			return fmt.Errorf("stop node %d: %w", down, err)
		}
		got, took, err := timed(func() ([32]byte, error) { return d.get(ctx, ds, rec, "second opinion") })
		if err != nil {
			return fmt.Errorf("doctor's get with node %d down: %w", down, err)
		}
		if got != want {
			return fmt.Errorf("with node %d down the doctor read different bytes", down)
		}
		d.say("   still %d nodes for consensus and re-encryption: read in %s, sha256 identical.", d.nodes-1, round(took))
		if err := nw.RestartNode(down); err != nil {
			return fmt.Errorf("restart node %d: %w", down, err)
		}
		d.say("   node %d restarts and catches up from its peers.", down)
	}

	d.section("The patient revokes the grant")
	rv, took, err := timed(func() (*client.RevokeResult, error) { return ps.Revoke(ctx, g.Grant) })
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	d.say("   revocation committed at height %d in %s, confirmed by %d nodes; every node deletes its fragment at that block.",
		rv.Height, round(took), ps.Network().F()+1)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	rv, err = ps.WaitDestroyed(wctx, g.Grant, 0)
	cancel()
	if err != nil {
		return fmt.Errorf("waiting for the nodes to confirm destroying their fragments: %w", err)
	}
	d.say("   %d of %d grant nodes confirmed on the ledger, each signing with its own key, that they destroyed their fragment.", rv.Destroyed, rv.Nodes)

	d.section("The doctor tries again")
	if _, err := d.get(ctx, ds, rec, "treatment"); !errors.Is(err, client.ErrRevoked) {
		return fmt.Errorf("the doctor's get after revocation should be refused as revoked, got %v", err)
	} else {
		d.say("   refused, as expected: %v", explain(err, "record"))
	}

	d.section("The patient erases the record")
	if _, took, err = timed(func() (struct{}, error) { return struct{}{}, ps.Erase(ctx, rec) }); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	d.say("   erasure committed in %s: every grant revoked, every node deletes the ciphertext;", round(took))
	d.say("   the ledger keeps a tombstone (and, in its history, the original put).")
	if _, err := d.get(ctx, ps, rec, ""); !errors.Is(err, client.ErrErased) {
		return fmt.Errorf("the owner's get after erasure should be refused as erased, got %v", err)
	} else {
		d.say("   even the owner is refused now: %v", explain(err, "record"))
	}

	d.section("The record's audit log, as the ledger committed it")
	log, err := ds.Audit(ctx, rec)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	names := map[protocol.PubKey]string{
		protocol.PubKeyOf(patient.Public().Signing): "patient",
		protocol.PubKeyOf(doctor.Public().Signing):  "doctor",
	}
	for _, n := range desc.Nodes {
		names[n.ProxyKey] = n.Name
	}
	var buf bytes.Buffer
	printAudit(&buf, log, func(k protocol.PubKey) string { return names[k] })
	for _, line := range bytes.Split(bytes.TrimRight(buf.Bytes(), "\n"), []byte("\n")) {
		d.say("   %s", line)
	}
	return checkAudit(log, patient, doctor)
}

// get reads record as s and returns the plaintext's hash.
func (d *demo) get(ctx context.Context, s *client.Session, rec protocol.ID, purpose string) ([32]byte, error) {
	h := sha256.New()
	_, err := s.Get(ctx, rec, h, client.GetOptions{Purpose: purpose})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

// checkAudit insists that the log tells the story: put, grant, the doctor's access, revoke,
// erase.
func checkAudit(log []protocol.AuditEntry, patient, doctor *identity.Identity) error {
	p, dr := protocol.PubKeyOf(patient.Public().Signing), protocol.PubKeyOf(doctor.Public().Signing)
	want := []struct {
		kind  string
		actor protocol.PubKey
	}{{protocol.AuditPut, p}, {protocol.AuditGrant, p}, {protocol.AuditRequest, dr}, {protocol.AuditRevoke, p}, {protocol.AuditErase, p}}
	var i int
	for _, e := range log {
		if i < len(want) && e.Kind == want[i].kind && e.Actor != nil && *e.Actor == want[i].actor {
			i++
		}
	}
	if i < len(want) {
		return fmt.Errorf("the audit log lacks the %s event (it has %d entries)", want[i].kind, len(log))
	}
	return nil
}

func writeRandom(path string, n int64) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Create(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, f.Close()
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// cleanUp removes the demo's directory, or what --keep and a failure say to keep, and returns
// what to tell the user about it: --keep keeps everything; a failure keeps the nodes' log
// (unless it went to standard error with -v); a success keeps nothing.
func cleanUp(dir, logPath string, failed, keep, verbose bool) string {
	switch {
	case keep:
		return fmt.Sprintf("(kept %s)", dir)
	case failed && !verbose:
		keepOnly(dir, logPath)
		return fmt.Sprintf("The nodes' log is kept in %s.", logPath)
	}
	os.RemoveAll(dir)
	return ""
}

// keepOnly removes everything in dir but the file keep.
func keepOnly(dir, keep string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if p := filepath.Join(dir, e.Name()); p != keep {
			os.RemoveAll(p)
		}
	}
}
