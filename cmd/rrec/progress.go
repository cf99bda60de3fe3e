package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressMin is the smallest transfer worth a bar: smaller ones finish before it draws.
const progressMin = 4 << 20

// progress draws a bar on stderr while total bytes move, only when stderr is a terminal, so
// scripts reading stdout (and logs of stderr) stay clean. The returned func advances it; done
// clears it.
func progress(stderr io.Writer, total int64, what string) (add func(n int64), done func()) {
	f, ok := stderr.(*os.File)
	if !ok || total < progressMin || !term.IsTerminal(int(f.Fd())) {
		return func(int64) {}, func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
	return func(n int64) { _ = bar.Add64(n) }, func() { _ = bar.Finish() }
}
