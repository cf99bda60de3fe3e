package blobs

import (
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

func TestBackoff(t *testing.T) {
	const lo, hi = 2 * time.Second, 10 * time.Minute
	want := lo
	for fails := 1; fails < 40; fails++ {
		least, most := backoff(fails, lo, hi, 0), backoff(fails, lo, hi, 0.999999)
		if least != want/2 || most > want || most < want-want/1000 {
			t.Fatalf("failure %d: pause in [%v, %v], want [%v, %v]", fails, least, most, want/2, want)
		}
		want = min(2*want, hi)
	}
}

func qid(i int) protocol.ID { return protocol.ID{byte(i), byte(i >> 8)} }

var errFetch = errors.New("no peer has it")

func TestQueueBoundedAndReset(t *testing.T) {
	q := newQueue(time.Second, time.Hour, 10)
	t0 := time.Now()
	for i := range 20 {
		q.add(qid(i))
	}
	if q.backlog() != 10 || !q.takeDropped() || q.takeDropped() {
		t.Fatalf("backlog %d: the queue holds at most 10 and reports the rest dropped, once", q.backlog())
	}
	var running []protocol.ID
	for range 10 {
		id, ok, _ := q.next(t0)
		if !ok {
			t.Fatal("queued work not taken")
		}
		running = append(running, id)
	}
	for i := 20; i < 25; i++ {
		q.add(qid(i))
	}
	for _, id := range running {
		if q.done(id, errFetch, t0) != 1 {
			t.Fatal("first failure not counted")
		}
	}
	// Records that failed while new work filled the queue: the retries due last go.
	if len(q.failed) != 5 || q.backlog() != 5 || !q.takeDropped() {
		t.Fatalf("%d failed and %d queued held, want 5 and 5", len(q.failed), q.backlog())
	}
	// New work past the bound pushes a retry out rather than wait behind it.
	q.add(qid(99))
	if len(q.failed) != 4 || q.backlog() != 6 || !q.takeDropped() {
		t.Fatalf("%d failed and %d queued held, want 4 and 6", len(q.failed), q.backlog())
	}
	for range 6 {
		id, _, _ := q.next(t0)
		q.done(id, nil, t0)
	}
	if _, ok, wait := q.next(t0); ok || wait < time.Second/2 || wait > time.Second {
		t.Fatalf("a failed record came back at once (wait %v)", wait)
	}
	// Success forgets the record's failures; a new failure starts over.
	id, ok, _ := q.next(t0.Add(time.Hour))
	if !ok {
		t.Fatal("due retry not taken")
	}
	q.done(id, nil, t0)
	if q.failed[id] != nil {
		t.Fatal("success kept the backoff")
	}
	q.add(id)
	id, _, _ = q.next(t0)
	if q.done(id, errFetch, t0) != 1 {
		t.Fatal("failures not reset by success")
	}
}

func TestQueueAlternatesAndReruns(t *testing.T) {
	q := newQueue(time.Millisecond, time.Hour, 100)
	t0 := time.Now()
	q.add(qid(1))
	id, _, _ := q.next(t0)
	q.done(id, errFetch, t0)
	for i := 10; i < 13; i++ {
		q.add(qid(i))
	}
	// With a retry due and new work waiting, they take turns.
	later := t0.Add(time.Second)
	var order []protocol.ID
	for range 4 {
		id, ok, _ := q.next(later)
		if !ok {
			t.Fatal("work not taken")
		}
		order = append(order, id)
	}
	if order[0] != qid(10) || order[1] != qid(1) || order[2] != qid(11) || order[3] != qid(12) {
		t.Fatalf("order %x", order)
	}
	// Work added while a record runs runs it once more afterwards, and not at the same time.
	q.add(qid(12))
	if _, ok, _ := q.next(later); ok {
		t.Fatal("a running record was taken again")
	}
	q.done(qid(12), nil, later)
	if id, ok, _ := q.next(later); !ok || id != qid(12) {
		t.Fatal("work added during a run was lost")
	}
	// A walk does not cut a backoff short; an event does.
	q.done(qid(10), errFetch, later)
	q.offer(qid(10))
	if _, ok, _ := q.next(later); ok {
		t.Fatal("offer cut a backoff short")
	}
	q.add(qid(10))
	if id, ok, _ := q.next(later); !ok || id != qid(10) {
		t.Fatal("add did not bring a failed record forward")
	}
}

// TestQueueLag: the replication lag counts records waiting, running and backing off after a
// failure, once each, but not those that only wait for the nodes they are placed on.
func TestQueueLag(t *testing.T) {
	q := newQueue(time.Second, time.Hour, 10)
	t0 := time.Now()
	for i := range 4 {
		q.add(qid(i))
	}
	if q.lag() != 4 {
		t.Fatalf("lag %d with 4 queued", q.lag())
	}
	a, _, _ := q.next(t0)
	b, _, _ := q.next(t0)
	c, _, _ := q.next(t0)
	if q.lag() != 4 {
		t.Fatalf("lag %d with 1 queued and 3 running", q.lag())
	}
	q.done(a, nil, t0)
	q.done(b, errFetch, t0)
	q.done(c, errNotYet, t0)
	if q.lag() != 2 {
		t.Fatalf("lag %d: want the queued record and the failed fetch", q.lag())
	}
	q.add(b) // its blob became available: queued again, still failed once
	if q.lag() != 2 {
		t.Fatalf("lag %d: a failed record queued again counts once", q.lag())
	}
}
