package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"presign/client"
)

// progressUI shows transfers on stderr: a bar per file (mpb) on a terminal, plain lines
// otherwise, nothing when quiet.
type progressUI struct {
	out   io.Writer // where messages go; above the bars while they run
	bars  *mpb.Progress
	plain io.Writer
}

// newProgressUI picks the display: bars when both stdout and stderr are terminals.
func (m *Main) newProgressUI(quiet bool) *progressUI {
	switch {
	case quiet:
		return &progressUI{out: m.Stderr}
	case terminal(m.Stdout) && terminal(m.Stderr) && termWidth(m.Stderr) > 0:
		return barsUI(m.Stderr, 150*time.Millisecond)
	}
	return &progressUI{out: m.Stderr, plain: m.Stderr}
}

// barsUI draws bars on w, refreshed every refresh.
func barsUI(w io.Writer, refresh time.Duration) *progressUI {
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(refresh), mpb.WithAutoRefresh())
	return &progressUI{out: p, bars: p}
}

// termWidth is the width of the terminal w, 0 when unknown (a pseudo-terminal nobody sized).
func termWidth(w any) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// Printf writes a message line without breaking the bars.
func (ui *progressUI) Printf(format string, args ...any) {
	fmt.Fprintf(ui.out, format+"\n", args...)
}

// Wait lets the bars draw their last state and releases the terminal.
func (ui *progressUI) Wait() {
	if ui.bars != nil {
		ui.bars.Wait()
	}
}

// transfer is the display of one file's transfer.
type transfer struct {
	ui    *progressUI
	verb  string
	name  string
	bar   *mpb.Bar
	meter meter
	mu    sync.Mutex
	last  client.Progress
	step  int64 // last tenth of the file reported in plain mode
	shown time.Time
	start time.Time
}

// Add starts the display of a transfer of total bytes.
func (ui *progressUI) Add(verb, name string, total int64) *transfer {
	t := &transfer{ui: ui, verb: verb, name: name, start: time.Now(), step: -1}
	t.last.Total = total
	if ui.bars != nil {
		t.bar = ui.bars.AddBar(max(total, 1),
			mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return t.status() })),
		)
	}
	return t
}

// Update is the client's progress callback.
func (t *transfer) Update(p client.Progress) {
	if t.bar != nil {
		t.mu.Lock()
		t.last = p
		t.meter.add(time.Now(), p.Done-p.Resumed)
		t.mu.Unlock()
		// Not under t.mu: the bar's renderer calls status, which takes it.
		t.bar.SetCurrent(p.Done)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = p
	t.meter.add(time.Now(), p.Done-p.Resumed)
	if t.ui.plain == nil || p.Total == 0 {
		return
	}
	step := p.Done * 10 / p.Total
	if step == t.step && time.Since(t.shown) < 10*time.Second {
		return
	}
	t.step, t.shown = step, time.Now()
	fmt.Fprintf(t.ui.plain, "%s %s: %s\n", t.verb, t.name, t.line())
}

// status is the text beside a bar.
func (t *transfer) status() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.line()
}

// line describes the transfer: bytes, percentage, rate and time left. t.mu is held.
func (t *transfer) line() string {
	p := t.last
	pct := 100.0
	if p.Total > 0 {
		pct = float64(p.Done) * 100 / float64(p.Total)
	}
	rate, eta := "--", "--"
	if r := t.meter.rate(); r > 0 {
		rate = humanBytes(int64(r))
		eta = time.Duration(float64(p.Total-p.Done) / r * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s / %s (%3.0f%%)  %s/s  ETA %s", humanBytes(p.Done), humanBytes(p.Total), pct, rate, eta)
}

// Done ends the display: a full bar, or a summary line.
func (t *transfer) Done() {
	t.mu.Lock()
	el := time.Since(t.start)
	total, moved := t.last.Total, t.last.Total-t.last.Resumed
	t.last.Done = total
	t.mu.Unlock()
	if t.bar != nil {
		t.bar.SetCurrent(max(total, 1))
		return
	}
	if t.ui.plain != nil {
		summary := fmt.Sprintf("%s in %s (%s/s)", humanBytes(total), el.Round(time.Millisecond), humanBytes(int64(float64(moved)/max(el.Seconds(), 1e-3))))
		fmt.Fprintf(t.ui.plain, "%s %s: done, %s\n", t.verb, t.name, summary)
	}
}

// Fail ends the display of a transfer that stopped.
func (t *transfer) Fail() {
	if t.bar != nil {
		t.bar.Abort(false)
	}
}

// meter estimates a rate over the last few seconds of samples.
type meter struct {
	samples []sample
}

type sample struct {
	at   time.Time
	done int64
}

const meterWindow = 5 * time.Second

func (m *meter) add(at time.Time, done int64) {
	if n := len(m.samples); n > 0 && at.Sub(m.samples[n-1].at) < 100*time.Millisecond {
		m.samples[n-1].done = done
		return
	}
	m.samples = append(m.samples, sample{at, done})
	i := 0
	for i < len(m.samples)-2 && at.Sub(m.samples[i+1].at) > meterWindow {
		i++
	}
	m.samples = m.samples[i:]
}

// rate is bytes per second over the window, 0 before there is enough to tell.
func (m *meter) rate() float64 {
	if len(m.samples) < 2 {
		return 0
	}
	a, b := m.samples[0], m.samples[len(m.samples)-1]
	dt := b.at.Sub(a.at).Seconds()
	if dt < 0.2 {
		return 0
	}
	return max(float64(b.done-a.done)/dt, 0)
}
