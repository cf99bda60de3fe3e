package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/resilientrecords/resilientrecords/client"
)

// progressMin is the smallest transfer worth a bar: smaller ones finish before it draws.
const progressMin = 4 << 20

// phaseBar draws one progress bar per phase of a transfer (seal, upload; fetch, open) on
// stderr, only when stderr is a terminal, so that scripts reading stdout, and logs of
// stderr, stay clean.
type phaseBar struct {
	tty   *os.File
	phase string
	bar   *progressbar.ProgressBar
}

func newPhaseBar(stderr io.Writer) *phaseBar {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &phaseBar{}
	}
	return &phaseBar{tty: f}
}

func (p *phaseBar) update(pr client.Progress) {
	if p.tty == nil || pr.Total < progressMin {
		return
	}
	if pr.Phase != p.phase || p.bar == nil {
		p.done()
		p.phase = pr.Phase
		p.bar = progressbar.NewOptions64(pr.Total,
			progressbar.OptionSetWriter(p.tty),
			progressbar.OptionSetDescription(pr.Phase),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set64(pr.Done)
}

func (p *phaseBar) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
