package rewrite

import "fmt"

// Mode is what callfix does with what it found.
type Mode uint8

const (
	// ModeEnforce rewrites what it can and rejects a request with a value it
	// cannot fix. It is the default.
	ModeEnforce Mode = iota
	// ModeRewrite rewrites what it can and forwards the rest unchanged.
	ModeRewrite
	// ModeAudit never changes a byte; it records what it would have done.
	ModeAudit
)

// String returns enforce, rewrite or audit.
func (m Mode) String() string {
	switch m {
	case ModeEnforce:
		return "enforce"
	case ModeRewrite:
		return "rewrite"
	case ModeAudit:
		return "audit"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "enforce":
		return ModeEnforce, nil
	case "rewrite":
		return ModeRewrite, nil
	case "audit":
		return ModeAudit, nil
	}
	return 0, fmt.Errorf("unknown mode %q: use enforce, rewrite or audit", s)
}

// Outcome is what happened to an intercepted request, as the callfix.outcome
// span attribute and the outcome metric label name it.
type Outcome string

const (
	OutcomeRewritten Outcome = "rewritten" // forwarded with changes
	OutcomeUnchanged Outcome = "unchanged" // forwarded as sent: nothing to change
	OutcomeRejected  Outcome = "rejected"  // answered 400 in enforce mode
	OutcomeAudited   Outcome = "audited"   // forwarded as sent, with changes or problems recorded
)

// Decision is what to do with a request.
type Decision struct {
	// Reject: answer 400 and forward nothing.
	Reject bool
	// Unreadable, when Reject is set and it is not SkipNone, is why enforce
	// mode rejects the body: callfix cannot read it as exactly one JSON
	// object. Otherwise the rejection is for the Result's Problems.
	Unreadable Skip
	// Body is what to forward when not rejecting.
	Body []byte
	// Outcome names the decision.
	Outcome Outcome
}

// Decide applies mode to a rewrite result. original is the body as the
// client sent it.
//
// Enforce mode fails closed: a body that was not inspected because it is
// not exactly one JSON object (r.Skipped, other than SkipEmpty) is rejected
// too, since the upstream's reader may take what callfix could not (a
// UTF-16 body, data after the object) and place the call uninspected. The
// rewrite and audit modes forward it as sent.
func Decide(mode Mode, original []byte, r *Result) Decision {
	switch mode {
	case ModeAudit:
		if len(r.Changes) > 0 || len(r.Problems) > 0 {
			return Decision{Body: original, Outcome: OutcomeAudited}
		}
		return Decision{Body: original, Outcome: OutcomeUnchanged}
	case ModeEnforce:
		if r.Skipped != SkipNone && r.Skipped != SkipEmpty {
			return Decision{Reject: true, Unreadable: r.Skipped, Outcome: OutcomeRejected}
		}
		if len(r.Problems) > 0 {
			return Decision{Reject: true, Outcome: OutcomeRejected}
		}
	}
	if len(r.Changes) > 0 {
		return Decision{Body: r.Body, Outcome: OutcomeRewritten}
	}
	return Decision{Body: original, Outcome: OutcomeUnchanged}
}
