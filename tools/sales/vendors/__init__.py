"""Real clients of the sales pack's vendors (HubSpot, Explorium, Lemlist, SMTP), all through `http.VendorHttp`.

They implement the provider protocols of `tools.sales.providers`; `config` builds them from settings
when credentials are configured, and the offline providers stay the default otherwise.
"""
