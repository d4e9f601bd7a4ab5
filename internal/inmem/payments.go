package inmem

import (
	"context"
	"fmt"
	"sync"

	"github.com/photobot/photobot/pipeline"
)

// Payments is a pipeline.Payments in memory: it records invoices, answers
// to pre-checkout queries and refunds; a charge refunded twice is
// ErrAlreadyRefunded, as Telegram's CHARGE_ALREADY_REFUNDED. Faults are
// keyed "invoice", "precheckout" and "refund".
type Payments struct {
	Faults
	mu       sync.Mutex
	Invoices []pipeline.Invoice
	Answers  map[string]string // by query id: the refusal, "" for ok
	Refunds  []string          // charge ids
}

var _ pipeline.Payments = (*Payments)(nil)

// SendInvoice records inv.
func (p *Payments) SendInvoice(ctx context.Context, inv *pipeline.Invoice) error {
	if err := p.take("invoice"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Invoices = append(p.Invoices, *inv)
	return nil
}

// AnswerPreCheckout records the answer; a query is answered once.
func (p *Payments) AnswerPreCheckout(ctx context.Context, id, refusal string) error {
	if err := p.take("precheckout"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.Answers[id]; ok {
		return fmt.Errorf("inmem: query %s answered before", id)
	}
	if p.Answers == nil {
		p.Answers = map[string]string{}
	}
	p.Answers[id] = refusal
	return nil
}

// RefundStars records the refund of chargeID, once.
func (p *Payments) RefundStars(ctx context.Context, userID int64, chargeID string) error {
	if err := p.take("refund"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.Refunds {
		if c == chargeID {
			return fmt.Errorf("inmem: refund %s: %w", chargeID, pipeline.ErrAlreadyRefunded)
		}
	}
	p.Refunds = append(p.Refunds, chargeID)
	return nil
}

// Record returns copies of the invoices and refunds so far.
func (p *Payments) Record() (invoices []pipeline.Invoice, refunds []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pipeline.Invoice(nil), p.Invoices...), append([]string(nil), p.Refunds...)
}

// Answer returns the answer to query id; ok is false when there is none.
func (p *Payments) Answer(id string) (refusal string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	refusal, ok = p.Answers[id]
	return refusal, ok
}
