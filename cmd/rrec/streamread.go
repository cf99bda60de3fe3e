package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newStreamReadCmd() *cobra.Command {
	var (
		cf          clientFlags
		from, until string
		out         string
		purpose     purposeFlags
	)
	cmd := &cobra.Command{
		Use:   "read NAME|GRANT|STREAM [--from TIME] [--until TIME] [-o FILE]",
		Short: "Print the entries of a time window of a stream, one per line, as appended",
		Long: `read prints the entries whose times lie in [--from, --until) (default: all), one per line,
as they were appended. The owner names its stream by NAME or id and reads with its own key.
A recipient names the GRANT it was given (or the stream's id: its newest live grant of it);
it commits one access request, which the owner sees in the stream's audit, and the nodes
re-encrypt each epoch its grant's window wholly covers — nothing earlier, later, or of
another stream. Epochs of the window the grant covers only in part are not readable: read
says how many on standard error. Every chunk is checked against its committed content
address before it is opened.`,
		Example: `  rrec stream read location --from 2026-03-03T00:00:00Z --until 2026-03-04T00:00:00Z
  rrec stream read $GRANT --from 2026-03-03T09:00:00Z --until 2026-03-03T17:00:00Z -o tuesday.jsonl --purpose HPAYMT`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var lo, hi time.Time
			var err error
			if from != "" {
				if lo, err = parseTime("--from", from); err != nil {
					return err
				}
			}
			if until != "" {
				if hi, err = parseTime("--until", until); err != nil {
					return err
				}
			}
			why, err := purpose.value()
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			var id protocol.ID
			if id.UnmarshalText([]byte(args[0])) != nil {
				st, err := s.StreamNamed(ctx, args[0])
				if err != nil {
					return explainStream(err, "stream")
				}
				id = st.ID()
			}
			got, err := s.ReadStream(ctx, id, lo, hi, client.ReadOptions{Purpose: why})
			if err != nil {
				return explainStream(err, "stream")
			}
			if len(got.Skipped) > 0 && got.Grant != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "rrec: warning: %d epochs with entries in this window are not wholly inside the grant's: not readable\n", len(got.Skipped))
			}
			write := func(w io.Writer) error {
				bw := bufio.NewWriterSize(w, 1<<20)
				for _, e := range got.Entries {
					bw.Write(e.Data)
					bw.WriteByte('\n')
				}
				return bw.Flush()
			}
			if out == "" || out == "-" {
				err = write(cmd.OutOrStdout())
			} else {
				err = writeAtomically(out, write)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "read %d entries from %d chunks in %d epochs\n", len(got.Entries), got.Chunks, got.Epochs)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the first entry `TIME` to read (RFC 3339; default: the first)")
	cmd.Flags().StringVar(&until, "until", "", "the entry `TIME` to stop before (RFC 3339; default: no end)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the entries to `FILE` (default: standard output)")
	purpose.add(cmd, "why you read it, recorded with the access request")
	return cmd
}
