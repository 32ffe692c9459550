"""Providers as a catalogue: every provider's OAuth and API facts in one data file
(catalogue.json, checked by catalogue.py) and, built from it with the settings it names, the spec
each service's flow, tokens, refresh, proxy, health, export and erasure run on (specs.py). Adding a
provider whose protocol the catalogue can describe is a change to the data file, not to code."""

from common.providers.specs import ProviderSpec, family_of, family_refresh_settings, provider, redirect_uri, services

__all__ = ["ProviderSpec", "family_of", "family_refresh_settings", "provider", "redirect_uri", "services"]
