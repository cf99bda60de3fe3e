package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/stream"
)

// The line format of 'rrec stream append' (and what 'rrec stream read' prints back): one
// entry per line, its bytes the line without its newline. A line that is a JSON object
// with a "time" string in RFC 3339 is stamped with that time; any other line with the time
// it was read. Empty lines are skipped.

// lineEntry turns one line into an entry, stamping it with now when it names no time.
func lineEntry(line []byte, now time.Time) (stream.Entry, error) {
	e := stream.Entry{Time: now.UnixNano(), Data: bytes.Clone(line)}
	if len(line) == 0 || line[0] != '{' {
		return e, nil
	}
	var v struct {
		Time *string `json:"time"`
	}
	if json.Unmarshal(line, &v) != nil || v.Time == nil {
		return e, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *v.Time)
	if err != nil {
		return e, fmt.Errorf("\"time\" %q is not RFC 3339 (like 2026-03-03T09:00:00Z)", *v.Time)
	}
	if t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, math.MaxInt64)) {
		return e, fmt.Errorf("\"time\" %q is before 1970 or after 2262 (entry times are nanoseconds since 1970)", *v.Time)
	}
	e.Time = t.UnixNano()
	return e, nil
}

// appender batches entries into Appends: a batch goes when it reaches batch entries, when
// an entry of a later epoch arrives (the earlier epoch is complete), or every seconds after
// its first entry, so that a slow source is committed as it goes and a fast one in chunks
// of whole epochs. Each flush makes a chunk per epoch it touches; a reader fetches every
// chunk, so fewer, larger flushes read faster.
type appender struct {
	s        *client.Session
	st       *client.Stream
	batch    int
	every    time.Duration
	progress io.Writer

	pending  []stream.Entry
	since    time.Time // when the oldest pending entry was read
	last     int64     // the latest entry time taken
	entries  int
	chunks   int
	reported time.Time
}

func (a *appender) add(ctx context.Context, e stream.Entry, lineNo int) error {
	if e.Time < a.last {
		return fmt.Errorf("line %d: time %s is earlier than the entry before it (%s): a stream is appended in time order",
			lineNo, e.At().Format(time.RFC3339Nano), time.Unix(0, a.last).UTC().Format(time.RFC3339Nano))
	}
	if len(e.Data) > stream.MaxEntryData {
		return fmt.Errorf("line %d: %d bytes, at most %d per entry", lineNo, len(e.Data), stream.MaxEntryData)
	}
	epoch := a.st.Epoch()
	if n := len(a.pending); n > 0 && stream.EpochOf(e.Time, epoch) != stream.EpochOf(a.pending[n-1].Time, epoch) {
		if err := a.flush(ctx); err != nil {
			return err
		}
	}
	if len(a.pending) == 0 {
		a.since = time.Now()
	}
	a.pending = append(a.pending, e)
	a.last = e.Time
	if len(a.pending) >= a.batch {
		return a.flush(ctx)
	}
	return nil
}

// due says whether the pending entries waited long enough.
func (a *appender) due() bool { return len(a.pending) > 0 && time.Since(a.since) >= a.every }

func (a *appender) flush(ctx context.Context) error {
	if len(a.pending) == 0 {
		return nil
	}
	res, err := a.s.Append(ctx, a.st, a.pending)
	a.entries += res.Entries
	a.chunks += res.Chunks
	if err != nil {
		return fmt.Errorf("after %d entries in %d chunks: %w", a.entries, a.chunks, explainStream(err, "stream"))
	}
	a.pending = a.pending[:0]
	if time.Since(a.reported) >= time.Second {
		a.reported = time.Now()
		fmt.Fprintf(a.progress, "appended %d entries in %d chunks, the last at %s\n", a.entries, a.chunks, when(a.last))
	}
	return nil
}

// readLines appends every line of r, flushing as appender says; lines arrive on a
// goroutine so that a quiet source still flushes every a.every.
func (a *appender) readLines(ctx context.Context, r io.Reader) error {
	type line struct {
		b   []byte
		at  time.Time
		err error
	}
	lines := make(chan line, 1024)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), stream.MaxEntryData+1)
		for sc.Scan() {
			select {
			case lines <- line{b: bytes.Clone(sc.Bytes()), at: time.Now()}:
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			lines <- line{err: fmt.Errorf("reading entries (a line of at most %d bytes each): %w", stream.MaxEntryData, err)}
		}
	}()
	tick := time.NewTicker(max(a.every/4, 50*time.Millisecond))
	defer tick.Stop()
	n := 0
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return a.flush(ctx)
			}
			if l.err != nil {
				return l.err
			}
			n++
			if len(bytes.TrimSpace(l.b)) == 0 {
				continue
			}
			e, err := lineEntry(l.b, l.at)
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			if err := a.add(ctx, e, n); err != nil {
				return err
			}
		case <-tick.C:
			if a.due() {
				if err := a.flush(ctx); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
