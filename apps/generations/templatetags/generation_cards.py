"""What a generation's card and detail page show of it (see apps.generations.cards)."""

from django import template

from apps.generations import cards

register = template.Library()

register.filter("card_notes", cards.card_notes)
register.filter("sizes_label", cards.sizes_label)
register.filter("requested_size", cards.requested_size)
register.filter("waited_seconds", cards.waited_seconds)
register.filter("retry_quote", cards.retry_quote)
register.filter("eta_label", cards.eta_label)
