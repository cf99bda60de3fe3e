package main

import (
	"strings"
	"testing"
	"time"
)

func TestLineEntry(t *testing.T) {
	now := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		line string
		want time.Time
		err  string
	}{
		{`{"time":"2026-03-03T09:00:00Z","lat":52.1}`, time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC), ""},
		{`{"time":"2026-03-03T09:00:00.25+01:00"}`, time.Date(2026, 3, 3, 8, 0, 0, 250e6, time.UTC), ""},
		{`{"lat":52.1}`, now, ""},
		{`not json {"time":"2000-01-01T00:00:00Z"}`, now, ""},
		{`{"time":"yesterday"}`, time.Time{}, "not RFC 3339"},
		{`{"time":"1969-12-31T23:59:59Z"}`, time.Time{}, "before 1970"},
		{`{"time":"2263-01-01T00:00:00Z"}`, time.Time{}, "after 2262"},
		{`{"time":12}`, now, ""},
	} {
		e, err := lineEntry([]byte(tc.line), now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || e.Time != tc.want.UnixNano() || string(e.Data) != tc.line {
			t.Errorf("%s: %v at %s, want %s", tc.line, err, e.At(), tc.want)
		}
	}
}

// A line is anything a pipe carries: lineEntry never panics, keeps the line's bytes, and
// stamps a time it does not take from the line with the time read.
func FuzzLineEntry(f *testing.F) {
	f.Add([]byte(`{"time":"2026-03-03T09:00:00Z","lat":52.1}`))
	f.Add([]byte(`{"time":"2026-03-03T09:00:00.123456789-07:00"}`))
	f.Add([]byte(`{"time":null}`))
	f.Add([]byte(`{"time":"9999-12-31T23:59:59Z"}`))
	f.Add([]byte("61 bpm"))
	now := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := lineEntry(line, now)
		if err != nil {
			return
		}
		if string(e.Data) != string(line) || e.Time < 0 {
			t.Fatalf("%q: entry %+v", line, e)
		}
	})
}
