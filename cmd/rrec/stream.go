package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newStreamCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Append-only logs of time-stamped entries (a phone's location, a device's readings), shared by time window",
		Long: `A stream is your append-only log of small time-stamped entries — one location point a
second, a heart rate a minute — sealed on this device, stored by content address, and
shared by windows of entry time: "Tuesday 09:00–17:00", or "from now until I revoke".

Entries are grouped in epochs of a fixed length chosen at creation (default 10 minutes).
Each epoch is sealed under one capsule, so a reader needs one re-encryption per epoch: a day
of 10-minute epochs is 144. The nodes re-encrypt only the epochs that lie wholly inside a
grant's window, so choose windows on epoch boundaries: an epoch only partly inside is not
readable. A grant without an end covers entries appended after it too, until you revoke it.

Revoking a stream grant also rekeys the stream: the epochs after its last entry are sealed
under a new key, and every other live grant is re-issued for it, so the revoked reader's
nodes hold fragments of a key no later entry uses.

The ledger sees a keyed hash of the stream's name, never the name: you find your stream by
name from any device with your identity.`,
		Example: `  rrec stream create location --epoch 10m
  gps-logger | rrec stream append location -
  rrec stream grant location --to "Acme Insurance" --from 2026-03-03T09:00:00Z --until 2026-03-03T17:00:00Z
  rrec stream read $GRANT --from 2026-03-03T09:00:00Z --until 2026-03-03T17:00:00Z -o tuesday.jsonl
  rrec stream revoke $GRANT
  rrec stream rekey location`,
	}
	cmd.AddCommand(newStreamCreateCmd(), newStreamAppendCmd(), newStreamGrantCmd(), newStreamReadCmd(),
		newStreamRevokeCmd(), newStreamRekeyCmd(), newStreamLsCmd(), newStreamEraseCmd())
	return cmd
}

func newStreamCreateCmd() *cobra.Command {
	var (
		cf    clientFlags
		epoch time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME [--epoch DURATION]",
		Short: "Create a stream; print its id",
		Long: `create commits a new stream of yours named NAME and prints its id. --epoch is the length of
its epochs, fixed for good: from 1m to 24h, dividing a day (1m, 5m, 10m, 15m, 30m, 1h, …).
A reader needs one re-encryption per epoch and can be granted whole epochs only: shorter
epochs give finer windows, longer ones faster reads of long spans. A name you already
gave a live stream is refused.`,
		Example: `  rrec stream create location
  rrec stream create heart-rate --epoch 1h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			st, err := s.CreateStream(ctx, args[0], epoch)
			if err != nil {
				return explainStream(err, "stream")
			}
			fmt.Fprintln(cmd.OutOrStdout(), st.ID())
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().DurationVar(&epoch, "epoch", 10*time.Minute, "length of the stream's epochs, `DURATION` from 1m to 24h dividing a day")
	return cmd
}

func newStreamAppendCmd() *cobra.Command {
	var (
		cf    clientFlags
		batch int
		every time.Duration
	)
	cmd := &cobra.Command{
		Use:   "append NAME [FILE|-] [--batch N] [--every DURATION]",
		Short: "Append entries, one per line, from a file or standard input",
		Long: `append reads entries from FILE, or standard input ('-' or nothing), one per line, and
appends them to your stream NAME. An entry is the line's bytes, at most 64 KiB. A line that is
a JSON object with a "time" field in RFC 3339 (like {"time":"2026-03-03T09:00:00Z","lat":…})
is stamped with that time; any other line with the time it was read. Entries must come in
time order, none earlier than the stream's last.

Entries are batched: a batch is sealed, uploaded and committed when it reaches --batch
entries, when an entry of a later epoch arrives, or --every after its first entry was read
(for a live source: default a minute). Each batch is one chunk per epoch it touches; a
reader fetches every chunk, so larger batches read faster (a day of 1 Hz points in 144
chunks reads in about half a second, in 1440 in under a second). Progress goes to standard
error.`,
		Example: `  rrec stream append location points.jsonl
  gps-logger | rrec stream append location - --every 1m
  echo '{"time":"2026-03-03T09:00:00Z","bpm":61}' | rrec stream append heart-rate`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 || batch > protocol.MaxChunkEntries {
				return fmt.Errorf("--batch %d: want 1 to %d entries", batch, protocol.MaxChunkEntries)
			}
			if every <= 0 {
				return fmt.Errorf("--every %s: want a positive duration", every)
			}
			var in io.Reader = cmd.InOrStdin()
			if len(args) == 2 && args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				in = bufio.NewReaderSize(f, 1<<20)
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			st, err := s.StreamNamed(ctx, args[0])
			if err != nil {
				return explainStream(err, "stream")
			}
			a := &appender{s: s, st: st, batch: batch, every: every, progress: cmd.ErrOrStderr(), last: st.State().Last}
			if err := a.readLines(ctx, in); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "appended %d entries in %d chunks to stream %s\n", a.entries, a.chunks, st.ID())
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().IntVar(&batch, "batch", 20000, "commit a batch once it holds `N` entries")
	cmd.Flags().DurationVar(&every, "every", time.Minute, "commit a batch `DURATION` after its first entry was read")
	return cmd
}

// parseTime reads a --from or --until time: RFC 3339.
func parseTime(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time, like 2026-03-03T09:00:00Z", flag, v)
	}
	return t, nil
}

func newStreamGrantCmd() *cobra.Command {
	var (
		cf          clientFlags
		to          string
		from, until string
		duration    time.Duration
		purpose     purposeFlags
	)
	cmd := &cobra.Command{
		Use:   "grant NAME --to PUBLIC_IDENTITY --from TIME [--until TIME] [--for DURATION] [--purpose CODE]",
		Short: "Let someone read the entries of a time window of your stream; print the grant id",
		Long: `grant lets the holder of PUBLIC_IDENTITY read the entries of your stream NAME whose times
lie in [--from, --until): fragments of the stream's key go to the nodes, and the nodes
re-encrypt only the epochs wholly inside that window. Without --until the window has no end:
entries appended later are readable too, until you revoke the grant ('rrec stream revoke').
A bound not on an epoch boundary leaves the epoch it cuts unreadable: grant warns.

--for ends the grant itself (not the window) after DURATION; --purpose is recorded with it.
It prints the grant id, which the recipient reads with and 'rrec stream revoke' takes.`,
		Example: `  rrec stream grant location --to "Acme Insurance" --from 2026-03-03T09:00:00Z --until 2026-03-03T17:00:00Z --purpose HPAYMT
  rrec stream grant heart-rate --to rrec1q... --from 2026-03-03T00:00:00Z --for 720h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return errors.New("grant needs --from TIME: the first entry time the grant covers")
			}
			o := client.StreamGrantOptions{GrantOptions: client.GrantOptions{Duration: duration}}
			var err error
			if o.From, err = parseTime("--from", from); err != nil {
				return err
			}
			if until != "" {
				if o.Until, err = parseTime("--until", until); err != nil {
					return err
				}
				if !o.Until.After(o.From) {
					return errors.New("--until must be later than --from")
				}
			}
			if o.Purpose, err = purpose.value(); err != nil {
				return err
			}
			pub, err := resolvePerson(to, "--to")
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			st, err := s.StreamNamed(ctx, args[0])
			if err != nil {
				return explainStream(err, "stream")
			}
			warnUnaligned(cmd.ErrOrStderr(), st.Epoch(), "--from", o.From)
			if !o.Until.IsZero() {
				warnUnaligned(cmd.ErrOrStderr(), st.Epoch(), "--until", o.Until)
			}
			res, err := s.GrantStream(ctx, st.ID(), pub, o)
			var de *client.DepositError
			if errors.As(err, &de) {
				return fmt.Errorf("grant %s is committed but only %d of %d nodes took their fragment (%d needed): run the grant again later", res.Grant, de.Accepted, len(de.Results), de.Threshold)
			}
			if err != nil {
				return explainStream(err, "stream")
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Grant)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "recipient's `PUBLIC_IDENTITY` (rrec1...), or a name from 'rrec contacts'")
	cmd.Flags().StringVar(&from, "from", "", "the first entry `TIME` covered (RFC 3339)")
	cmd.Flags().StringVar(&until, "until", "", "the entry `TIME` the window ends before (RFC 3339; default: no end)")
	cmd.Flags().DurationVar(&duration, "for", 0, "end the grant after `DURATION` (default: until revoked)")
	purpose.add(cmd, "why the recipient may read it, recorded in the audit log")
	return cmd
}

// warnUnaligned warns that a window bound inside an epoch leaves that epoch unreadable.
func warnUnaligned(w io.Writer, epoch time.Duration, flag string, t time.Time) {
	if t.UnixNano()%int64(epoch) == 0 {
		return
	}
	start := t.Truncate(epoch).UTC()
	fmt.Fprintf(w, "rrec: warning: %s %s is not on a %s epoch boundary: the epoch %s–%s is not readable under this grant\n",
		flag, t.UTC().Format(time.RFC3339), epoch, start.Format(time.RFC3339), start.Add(epoch).Format(time.RFC3339))
}

func newStreamEraseCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "erase NAME",
		Short: "Erase a stream: every grant ends, every node deletes its chunks",
		Long: `erase ends every grant of your stream NAME and erases all its entries: the nodes delete
every chunk's ciphertext, and nothing can be appended or granted after. The ledger keeps
that the stream existed and was erased. Copies readers already made are beyond its reach.`,
		Example: `  rrec stream erase location`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			st, err := s.StreamNamed(ctx, args[0])
			if err != nil {
				return explainStream(err, "stream")
			}
			if err := s.EraseStream(ctx, st.ID()); err != nil {
				return explainStream(err, "stream")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "erased stream %s (%d chunks)\n", st.ID(), st.State().Chunks)
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

func newStreamLsCmd() *cobra.Command {
	var (
		cf     clientFlags
		shared bool
	)
	cmd := &cobra.Command{
		Use:   "ls [--shared]",
		Short: "List your streams, or the stream grants made to you",
		Long: `ls lists your streams, oldest first: id, epoch length, chunks, sealed size, the last
entry's time, and whether it was erased (the ledger has no names: 'rrec stream create'
printed each id). With --shared it lists the stream grants made to you: grant, stream,
owner, the window of entry times, and whether the grant is live. A grant the owner's rekey
re-issued (after revoking someone else's grant) is listed once per key generation: read
with either id, each epoch is read under the grant of its generation.`,
		Example: `  rrec stream ls
  rrec stream ls --shared`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			if shared {
				sh, err := s.SharedStreams(ctx)
				if err != nil {
					return explainStream(err, "grant")
				}
				book := namesBook(cmd.ErrOrStderr())
				fmt.Fprintln(tw, "GRANT\tSTREAM\tOWNER\tFROM\tUNTIL\tSTATUS")
				for _, x := range sh {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Grant.Grant.ID, x.Stream.ID, person(book, x.Grant.Grant.Owner, client.OwnerString(x.Grant.Grant)),
						when(x.Grant.From), windowEnd(x.Grant.Until), sharedStatus(x.Err))
				}
				return tw.Flush()
			}
			sts, err := s.Streams(ctx)
			if err != nil {
				return explainStream(err, "stream")
			}
			fmt.Fprintln(tw, "STREAM\tEPOCH\tCHUNKS\tSIZE\tLAST ENTRY\tSTATUS")
			for _, st := range sts {
				status, last := "live", "-"
				if st.ErasedHeight != 0 {
					status = fmt.Sprintf("erased at height %d", st.ErasedHeight)
				}
				if st.Chunks > 0 {
					last = when(st.Last)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", st.ID, time.Duration(st.Epoch)*time.Second, st.Chunks, size(int64(st.Bytes)), last, status)
			}
			return tw.Flush()
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&shared, "shared", false, "list the stream grants made to you")
	return cmd
}

func windowEnd(until int64) string {
	if until == 0 {
		return "open (until revoked)"
	}
	return when(until)
}

// explainStream is explain, with the words of streams.
func explainStream(err error, what string) error {
	switch {
	case errors.Is(err, client.ErrRevoked):
		return fmt.Errorf("access refused: the owner revoked this stream grant (%w)", err)
	case errors.Is(err, client.ErrNotGranted):
		return fmt.Errorf("access refused: this stream is not granted to you (%w)", err)
	case errors.Is(err, client.ErrErased), errors.Is(err, protocol.ErrStreamErased):
		return fmt.Errorf("the owner erased this stream; its entries are gone (%w)", err)
	case errors.Is(err, protocol.ErrStreamOrder):
		return fmt.Errorf("entries must come after the stream's last entry (%w)", err)
	case errors.Is(err, client.ErrNotFound) && what == "stream":
		return fmt.Errorf("you have no such stream on this network ('rrec stream ls' lists yours) (%w)", err)
	}
	return explain(err, what)
}
