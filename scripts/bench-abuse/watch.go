package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/node"
)

// blockWatch notes when a node commits each height, polled every 10 ms: the intervals a
// user of the network feels, whatever the block headers' times say.
type blockWatch struct {
	mu    sync.Mutex
	times []time.Time // when each new height was first seen, in order
}

func watchBlocks(ctx context.Context, n *node.Node) *blockWatch {
	w := &blockWatch{}
	go func() {
		var last int64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if h := n.Height(); h > last {
					last = h
					w.mu.Lock()
					w.times = append(w.times, now)
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

// gap is the longest time without a new block in a run, and when it began.
type gap struct {
	length time.Duration
	after  time.Duration // from the run's start
}

func (g gap) String() string {
	return fmt.Sprintf("%v (from %.1f s in)", g.length.Round(time.Millisecond), g.after.Seconds())
}

// longest is the longest time without a new block between from and to.
func (w *blockWatch) longest(from, to time.Time) gap {
	w.mu.Lock()
	defer w.mu.Unlock()
	var g gap
	prev := from
	for _, t := range append(w.times, to) {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			t = to
		}
		if d := t.Sub(prev); d > g.length {
			g = gap{length: d, after: prev.Sub(from)}
		}
		if prev = t; t.Equal(to) {
			break
		}
	}
	return g
}

// diskUsage is the bytes of the regular files under each home.
func diskUsage(homes []string) []int64 {
	out := make([]int64, len(homes))
	for i, h := range homes {
		filepath.WalkDir(h, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // a file removed while walking
			}
			if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
				out[i] += info.Size()
			}
			return nil
		})
	}
	return out
}

func printDisk(before, after []int64, hostileBound, honestStored int64) {
	fmt.Printf("disk growth during the flood, per node (bound: %s the hostile accounts' allowances allow, "+
		"+ %s of honest records put in both runs, + the chain's blocks):\n", humanBytes(hostileBound), humanBytes(honestStored))
	for i := range before {
		fmt.Printf("  node%d: %s → %s (+%s)\n", i, humanBytes(before[i]), humanBytes(after[i]), humanBytes(after[i]-before[i]))
	}
}
