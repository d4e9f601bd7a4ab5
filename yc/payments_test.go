package yc_test

import (
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// paymentsThroughFunctions, in the functions as deployed
// (TestPackagedFunctions, relaunched with a price): fn-handler answers a
// photo with an invoice, answers the pre_checkout_query and takes the
// payment, which starts the photo; fn-callback delivers its result, once,
// though Telegram reports the payment twice.
func paymentsThroughFunctions(t *testing.T, e *testenv.Env, launch func(map[string]string)) {
	t.Helper()
	vars := map[string]string{"PRICE_STARS": "2", "FREE_PER_DAY": "0"}
	for k, v := range e.Vars {
		vars[k] = v
	}
	launch(vars)
	results, predictions := len(e.TG.Calls("sendPhoto")), len(e.RP.Predictions())
	p := e.NewPhoto(2002010)
	if status, err := e.TG.DeliverUpdate(e.Update(p)); err != nil || status != 200 {
		t.Fatalf("photo: %d %v", status, err)
	}
	inv := e.TG.WaitInvoices(t, 1, 10*time.Second)[0]
	if inv.Stars != 2 || inv.ChatID != p.ChatID || len(e.RP.Predictions()) != predictions {
		t.Fatalf("invoice %+v; want 2 Stars to the photo's chat, and nothing billed", inv)
	}
	paid := e.TG.Pay(t, inv, fake.User{}, fake.ViaWebhook)
	if !paid.Paid || paid.Status != 200 {
		t.Fatalf("payment: %+v", paid)
	}
	e.TG.Redeliver(t, paid.Update, 1, fake.ViaWebhook)
	e.TG.WaitCalls(t, "sendPhoto", results+1, 20*time.Second)
	e.RP.WaitIdle(t, 10*time.Second)
	if n := len(e.RP.Predictions()) - predictions; n != 1 {
		t.Errorf("%d predictions for one paid photo, want 1", n)
	}
	if n := len(e.TG.Calls("sendPhoto")) - results; n != 1 {
		t.Errorf("%d results for one paid photo, want 1", n)
	}
}
