package pipeline

import "fmt"

// payTexts are the words of payments, in one language (see texts).
// Plural forms: [one, few, many] in Russian, [one, other] in English.
type payTexts struct {
	StarsN   [3]string // %d: Stars, in words
	Spent    string    // %d: the price, %d: the balance left
	FreeLeft [3]string // %d: free photos left today
	Returned [3]string // %d: Stars given back
	Balance  string    // %d: the balance

	NeedStars     string
	InvoicePhoto  string // %s: the effect, %d: the balance
	InvoicePack   string // %s: the Stars
	PackButton    string // %d: Stars
	Credited      string // %s: the Stars, %d: the balance
	SendAgain     string
	PricesChanged string
	InvoiceStale  string

	// /balance, /buy, /paysupport, /terms, /refund.
	BalanceLine   string // %d: the balance
	FreeToday     string // %d: left, %d: of
	PhotoCosts    string // %s: the Stars
	Purchases     string
	PurchaseLine  string // %s: the day, %d: Stars, %s: the charge id
	RefundedMark  string
	BuyChoose     string
	PaySupport    string
	Terms         string
	RefundUsage   string
	RefundAdmins  string
	RefundUnknown string // %s: the charge id
	RefundBefore  string
	RefundBusy    string
	RefundFailed  string
	RefundDone    string // %d: Stars, %d: the user, %d: their balance
	RefundedUser  string // %s: the Stars, %d: the balance

	// /start and /help.
	HelpPrice  string    // %s: the Stars
	HelpPrices string    // the effects' prices follow
	HelpFree   [3]string // %d: free photos a day
	HelpPay    string
	Free       string // an effect that costs nothing

	CommandBalance, CommandBuy, CommandPaySupport, CommandTerms string
}

var ruPay = payTexts{
	StarsN:   [3]string{"%d звезда", "%d звезды", "%d звёзд"},
	Spent:    "−%d ⭐, на балансе %d ⭐",
	FreeLeft: [3]string{"Бесплатно: сегодня осталось ещё %d", "Бесплатно: сегодня осталось ещё %d", "Бесплатно: сегодня осталось ещё %d"},
	Returned: [3]string{"%d звезда вернулась на баланс", "%d звезды вернулись на баланс", "%d звёзд вернулись на баланс"},
	Balance:  "на балансе %d ⭐",

	NeedStars:     "Не хватает звёзд — отправил счёт",
	InvoicePhoto:  "«%s» для этого фото. После оплаты запустится сам. На балансе сейчас: %d ⭐.",
	InvoicePack:   "%s на баланс бота — на обработку фото.",
	PackButton:    "+%d ⭐",
	Credited:      "Оплата получена: +%s. На балансе: %d ⭐.",
	SendAgain:     "Не нахожу фото, за которое был счёт, — пришлите его ещё раз: звёзды уже на балансе.",
	PricesChanged: "Цена изменилась — пришлите фото ещё раз или откройте /buy.",
	InvoiceStale:  "Этот счёт больше не действует — пришлите фото ещё раз или откройте /buy.",

	BalanceLine:   "На балансе: %d ⭐",
	FreeToday:     "Бесплатных фото сегодня: %d из %d",
	PhotoCosts:    "Фото стоит %s.",
	Purchases:     "Последние покупки:",
	PurchaseLine:  "• %s: +%d ⭐ (%s)",
	RefundedMark:  " — возвращено",
	BuyChoose:     "Пополнить баланс — выберите сумму:",
	PaySupport:    "Вопросы об оплате — владельцу бота. Если фото не обработалось, звёзды возвращаются на баланс сами. Для возврата покупки пришлите владельцу её номер из /balance.",
	Terms:         "Звёзды на балансе — оплата обработки фото в этом боте. Цена фото списывается при запуске и возвращается, если обработка не удалась, отменена или результат не доставлен. Возврат покупки — на усмотрении владельца бота, через Telegram.",
	RefundUsage:   "Напишите /refund и номер платежа (telegram_payment_charge_id).",
	RefundAdmins:  "Возвращать платежи могут только администраторы бота.",
	RefundUnknown: "Платежа %s нет.",
	RefundBefore:  "Этот платёж уже возвращён.",
	RefundBusy:    "Этот платёж как раз возвращается.",
	RefundFailed:  "Telegram не вернул платёж. Попробуйте ещё раз позже.",
	RefundDone:    "Возвращено %d ⭐ пользователю %d; на его балансе теперь %d ⭐.",
	RefundedUser:  "Платёж возвращён: −%s. На балансе: %d ⭐.",

	HelpPrice:  "Фото стоит %s (Telegram Stars).",
	HelpPrices: "Цены в звёздах (Telegram Stars):",
	HelpFree:   [3]string{"Первое %d фото в день — бесплатно.", "Первые %d фото в день — бесплатно.", "Первые %d фото в день — бесплатно."},
	HelpPay:    "/balance — баланс, /buy — пополнить, /terms — условия, /paysupport — помощь с оплатой",
	Free:       "бесплатно",

	CommandBalance: "Баланс звёзд", CommandBuy: "Пополнить баланс", CommandPaySupport: "Помощь с оплатой", CommandTerms: "Условия",
}

var enPay = payTexts{
	StarsN:   [3]string{"%d Star", "%d Stars"},
	Spent:    "−%d ⭐, %d ⭐ left",
	FreeLeft: [3]string{"Free: %d more free today", "Free: %d more free today"},
	Returned: [3]string{"%d Star returned to your balance", "%d Stars returned to your balance"},
	Balance:  "%d ⭐ on your balance",

	NeedStars:     "Not enough Stars: here is an invoice",
	InvoicePhoto:  "“%s” for this photo. Once paid, it starts by itself. Your balance now: %d ⭐.",
	InvoicePack:   "%s for your balance in this bot, to process photos.",
	PackButton:    "+%d ⭐",
	Credited:      "Payment received: +%s. Balance: %d ⭐.",
	SendAgain:     "I can't find the photo this invoice was for: please send it again. The Stars are on your balance.",
	PricesChanged: "The price has changed: please send the photo again, or see /buy.",
	InvoiceStale:  "This invoice is no longer valid: please send the photo again, or see /buy.",

	BalanceLine:   "Balance: %d ⭐",
	FreeToday:     "Free photos left today: %d of %d",
	PhotoCosts:    "A photo costs %s.",
	Purchases:     "Last purchases:",
	PurchaseLine:  "• %s: +%d ⭐ (%s)",
	RefundedMark:  ", refunded",
	BuyChoose:     "Top up your balance: pick an amount.",
	PaySupport:    "Questions about a payment: please contact the bot's owner. A photo that fails gives its Stars back to your balance by itself. To ask for a purchase back, send the owner its id from /balance.",
	Terms:         "Stars on your balance pay for processing photos in this bot. A photo's price is taken when it starts and given back when it fails, is canceled or cannot be delivered. Refunds of purchases are at the bot owner's discretion, through Telegram.",
	RefundUsage:   "Send /refund followed by the payment's id (telegram_payment_charge_id).",
	RefundAdmins:  "Only the bot's admins can refund payments.",
	RefundUnknown: "There is no payment %s.",
	RefundBefore:  "This payment was refunded before.",
	RefundBusy:    "This payment is being refunded right now.",
	RefundFailed:  "Telegram did not refund the payment. Please try again later.",
	RefundDone:    "Refunded %d ⭐ to user %d; their balance is now %d ⭐.",
	RefundedUser:  "A payment was refunded to you: −%s. Balance: %d ⭐.",

	HelpPrice:  "A photo costs %s (Telegram Stars).",
	HelpPrices: "Prices in Telegram Stars:",
	HelpFree:   [3]string{"Your first %d photo each day is free.", "Your first %d photos each day are free."},
	HelpPay:    "/balance shows your Stars, /buy tops them up; /terms, /paysupport",
	Free:       "free",

	CommandBalance: "Your Stars", CommandBuy: "Top up", CommandPaySupport: "Help with payments", CommandTerms: "Terms",
}

var payWords = map[string]*payTexts{"ru": &ruPay, "en": &enPay}

// stars says n Stars in words: «5 звёзд», "1 Star".
func (w *words) stars(n int) string { return w.plural(n, w.StarsN) }

// returned tells the user a price came back, and the balance.
func (w *words) returned(n, left int) string {
	return w.plural(n, w.Returned) + " (" + fmt.Sprintf(w.Balance, left) + ")"
}

func (w *words) credited(n, left int) string { return fmt.Sprintf(w.Credited, w.stars(n), left) }
