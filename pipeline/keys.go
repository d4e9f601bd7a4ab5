package pipeline

import (
	"strconv"
	"strings"
)

// Every key of the bucket, and the lifecycle rules that expire them: no
// sweeper, no listing. photobot setup puts LifecycleRules, doctor checks
// them, and a test holds Terraform's bucket to the same list.

// LifecycleRule expires the objects under Prefix after Days.
type LifecycleRule struct {
	ID     string
	Prefix string
	Days   int32
}

// LifecycleRules are the bucket's expiry rules. Claims (updates/,
// deliveries/, choices/) and the per-user counters outlive Telegram's and
// Replicate's redelivery windows; the photos and tasks are deleted once
// delivered, and expire after a day when a result never came. The marks
// of alerts sent are good for an hour; the daily numbers of /stats are
// kept 400 days.
var LifecycleRules = []LifecycleRule{
	{ID: "photobot-tasks", Prefix: taskPrefix, Days: 1},
	{ID: "photobot-updates", Prefix: updatePrefix, Days: 2},
	{ID: "photobot-deliveries", Prefix: deliveryPrefix, Days: 2},
	{ID: "photobot-images", Prefix: imagePrefix, Days: 1},
	{ID: "photobot-albums", Prefix: albumPrefix, Days: 1},
	{ID: "photobot-users", Prefix: usagePrefix, Days: 2},
	{ID: "photobot-choices", Prefix: choicePrefix, Days: 2},
	{ID: "photobot-setup", Prefix: SetupPrefix, Days: 1},
	{ID: "photobot-alerts", Prefix: alertPrefix, Days: 1},
	{ID: "photobot-stats", Prefix: StatsPrefix, Days: 400},
}

const (
	taskPrefix     = "tasks/"
	updatePrefix   = "updates/"
	deliveryPrefix = "deliveries/"
	imagePrefix    = "images/"
	albumPrefix    = "albums/"
	usagePrefix    = "users/"
	choicePrefix   = "choices/"
	// SetupPrefix holds the probes of photobot setup and doctor.
	SetupPrefix = "setup/"
	// StatsPrefix holds the daily numbers of /stats (package stats).
	StatsPrefix = "stats/"

	// Money is kept: no lifecycle rule may expire these (KeptPrefixes).
	accountPrefix = "accounts/"
	paymentPrefix = "payments/"
	invoicePrefix = "invoices/"
)

// KeptPrefixes hold what must outlive every lifecycle rule: the users'
// balances (accounts/), the payments and refunds (payments/) and the
// photos an invoice remembers (invoices/). A test holds LifecycleRules and
// Terraform's bucket to never expiring them.
var KeptPrefixes = []string{accountPrefix, paymentPrefix, invoicePrefix}

// taskKey: the state between the two halves (the spec's
// tasks/{prediction_id}.json).
func taskKey(predictionID string) string { return taskPrefix + predictionID + ".json" }

// updateKey: the claim on a Telegram update.
func updateKey(updateID int64) string {
	return updatePrefix + strconv.FormatInt(updateID, 10) + ".json"
}

// deliveryKey: the claim on a prediction's result (and the mark of a
// prediction photobot canceled).
func deliveryKey(predictionID string) string { return deliveryPrefix + predictionID + ".json" }

// imageKey: the user's photo, as the model reads it.
func imageKey(name, ext string) string { return imagePrefix + "input/" + name + ext }

// albumKey: the mark that an album's "accepted" was said.
func albumKey(chatID int64, group string) string {
	return albumPrefix + strconv.FormatInt(chatID, 10) + "_" + safeKey(group) + ".json"
}

// usageKey: a user's counters (see quota.go).
func usageKey(userID int64) string { return usagePrefix + strconv.FormatInt(userID, 10) + ".json" }

// choiceKey: the claim on one button of one message (an effect chosen,
// or Again), so that a double tap starts one prediction.
func choiceKey(chatID int64, messageID int, effect string) string {
	return choicePrefix + strconv.FormatInt(chatID, 10) + "_" + strconv.Itoa(messageID) + "_" + safeKey(effect) + ".json"
}

// questionKey: what finds the photo of a question the bot asked
// (prompts.go), by the question's message. Under choices/: it lives as
// long as the claims of the buttons beside it.
func questionKey(chatID int64, messageID int) string {
	return choicePrefix + strconv.FormatInt(chatID, 10) + "_" + strconv.Itoa(messageID) + ".question.json"
}

// promptKey: a prediction's prompt, kept for Again (prompts.go). Under
// deliveries/: it lives as long as the prediction's delivery claim.
func promptKey(predictionID string) string { return deliveryPrefix + predictionID + ".prompt.json" }

// startKey: the claim on a prediction's start event (progress.go).
func startKey(predictionID string) string { return deliveryPrefix + predictionID + ".start.json" }

// safeKey keeps letters, digits, - and _ of an outside string.
func safeKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// accountKey: a user's balance in Stars (see balance.go).
func accountKey(userID int64) string {
	return accountPrefix + strconv.FormatInt(userID, 10) + ".json"
}

// paymentKey: the record of a payment, by Telegram's charge id: created
// once, however often the payment is reported.
func paymentKey(chargeID string) string { return paymentPrefix + safeKey(chargeID) + ".json" }

// refundKey: the claim on a payment's refund.
func refundKey(chargeID string) string { return paymentPrefix + safeKey(chargeID) + ".refund.json" }

// invoiceKey: the photo an invoice remembers, started once it is paid.
func invoiceKey(id string) string { return invoicePrefix + safeKey(id) + ".json" }

// invoiceStartKey: the claim that starts a paid invoice's photo once.
func invoiceStartKey(id string) string { return invoicePrefix + safeKey(id) + ".start.json" }
