package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// scenes is what the transcript's generator lends the parts it delegates: the chain and its
// clock, adding a block, a transaction or an alias, and the registry's nodes.
type scenes struct {
	chain string
	clock func() time.Time
	block func(comment string, at time.Duration)
	tx    func(name string, raw []byte)
	name  func(name string, h fmt.Stringer)
	nodes []*protocoltest.Account
}

// recoveryScenes adds the transcript's recovery by guardians, after every other block, and
// returns the queries of its final state.
func recoveryScenes(t *testing.T, sc scenes, alice, bob, carol, dave, erin *protocoltest.Account) []string {
	// Recovery by guardians: alice seals her identity in record-R, and bob, carol and erin
	// guard it, two of them needed, with a minute's wait.
	chain, clock, block, tx, name, nodes := sc.chain, sc.clock, sc.block, sc.tx, sc.name, sc.nodes
	nodeKeys := protocoltest.Keys(nodes)
	frank, mallory := protocoltest.NewAccount(chain), protocoltest.NewAccount(chain)
	frank.Clock, mallory.Clock = clock, clock
	recoveryKey, commitment := protocoltest.NewAccount(chain), protocoltest.NewAccount(chain)
	name("frank", frank.Key)
	name("mallory", mallory.Key)
	name("recovery-key", recoveryKey.Key)
	recR := alice.RecordID()
	name("record-R", recR)
	setupBody := func() *protocol.RecoverySetup {
		b := &protocol.RecoverySetup{Record: recR, OwnerEnc: alice.Key, Delay: int64(time.Minute),
			Commitments: []protocol.PubKey{recoveryKey.Key, commitment.Key}}
		for i, n := range nodeKeys {
			b.Nodes = append(b.Nodes, protocol.GrantNode{Proxy: n, Commitment: protocol.Hash32{0xf0, byte(i)}})
		}
		for _, g := range []*protocoltest.Account{bob, carol, erin} {
			b.Guardians = append(b.Guardians, protocol.Guardian{Signing: g.Key, Receiving: g.Key, Share: []byte("share sealed to " + g.Key.String()[:6])})
		}
		return b
	}
	approve := func(p protocol.Hash32, by string) *protocol.RecoveryApprove {
		return &protocol.RecoveryApprove{Process: p, Share: []byte("share of " + by + " sealed to the device")}
	}
	block("recovery setup: alice puts her sealed identity and names three guardians, two needed; setups refused", 2*time.Hour)
	tx("put-R", alice.Next(protocoltest.PutRecord("bafkrei-record-r", 500)))
	recoveryGrant := alice.GrantID()
	name("recovery-grant-1", recoveryGrant)
	tx("setup-1", alice.Next(setupBody()))
	tx("setup-by-stranger", bob.Next(setupBody()))
	selfGuard := setupBody()
	selfGuard.Guardians[0].Signing = alice.Key
	tx("setup-own-guardian", alice.Next(selfGuard))
	tx("request-recovery-grant", alice.Next(&protocol.RequestAccess{Grant: recoveryGrant, Purpose: "bypass"}))
	tx("admit-frank-mallory", nodes[0].Next(&protocol.Admit{Tier: protocol.TierMember, Accounts: []protocol.PubKey{frank.Key, mallory.Key}}))

	block("a new device starts a recovery; starts refused", 2*time.Hour+10*time.Second)
	startRaw := frank.Next(&protocol.RecoveryStart{Owner: alice.Key, DeviceEnc: frank.Key})
	p1 := protocol.TxHash(startRaw)
	tx("start-1", startRaw)
	tx("start-not-admitted", dave.Next(&protocol.RecoveryStart{Owner: alice.Key, DeviceEnc: dave.Key}))
	tx("start-no-setup", frank.Next(&protocol.RecoveryStart{Owner: bob.Key, DeviceEnc: frank.Key}))
	tx("start-by-owner", alice.Next(&protocol.RecoveryStart{Owner: alice.Key, DeviceEnc: alice.Key}))

	block("guardians approve; too few approvals, approvals refused", 2*time.Hour+20*time.Second)
	tx("approve-1-bob", bob.Next(approve(p1, "bob")))
	tx("approve-1-bob-again", bob.Next(approve(p1, "bob")))
	tx("approve-1-by-owner", alice.Next(approve(p1, "alice")))
	tx("approve-missing-process", carol.Next(approve(protocol.Hash32{0x55}, "carol")))
	tx("finish-1-one-approval", frank.Next(&protocol.RecoveryFinish{Process: p1}))

	block("the second approval starts the waiting period; a hostile process reaches its approvals too", 2*time.Hour+30*time.Second)
	tx("approve-1-carol", carol.Next(approve(p1, "carol")))
	tx("finish-1-waiting", frank.Next(&protocol.RecoveryFinish{Process: p1}))
	hostileRaw := mallory.Next(&protocol.RecoveryStart{Owner: alice.Key, DeviceEnc: mallory.Key})
	p2 := protocol.TxHash(hostileRaw)
	tx("start-2-hostile", hostileRaw)
	tx("approve-2-bob", bob.Next(approve(p2, "bob")))
	tx("approve-2-erin", erin.Next(approve(p2, "erin")))

	block("alice sees the hostile process and cancels it within the waiting period", 2*time.Hour+40*time.Second)
	tx("cancel-2-by-stranger", mallory.Next(&protocol.RecoveryCancel{Process: p2}))
	tx("cancel-2", alice.Next(&protocol.RecoveryCancel{Process: p2}))
	tx("cancel-2-again", alice.Next(&protocol.RecoveryCancel{Process: p2}))

	block("the waiting period is over: frank finishes; the cancelled process cannot", 2*time.Hour+31*time.Second+time.Minute)
	finishRaw := frank.Next(&protocol.RecoveryFinish{Process: p1})
	tx("finish-1", finishRaw)
	tx("finish-1-by-stranger", mallory.Next(&protocol.RecoveryFinish{Process: p1}))
	tx("finish-2-cancelled", mallory.Next(&protocol.RecoveryFinish{Process: p2}))
	tx("cancel-1-too-late", alice.Next(&protocol.RecoveryCancel{Process: p1}))

	block("a new setup replaces the first: its grant is revoked, its processes end", 2*time.Hour+3*time.Minute)
	name("recovery-grant-2", alice.GrantID())
	tx("setup-2", alice.Next(setupBody()))
	tx("approve-1-erin-old-setup", erin.Next(approve(p1, "erin")))
	return []string{
		"/recovery/setup/" + alice.Key.String(),
		"/recovery/processes/" + alice.Key.String(),
		"/recovery/process/" + p1.String(),
		"/recovery/process/" + p2.String(),
		"/recovery/setup/" + bob.Key.String(), // refused: not_found
		"/request/" + protocol.TxHash(finishRaw).String(),
		"/grant/" + recoveryGrant.String(),
		"/audit/" + recR.String(),
	}
}
