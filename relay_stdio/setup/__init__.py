"""Registering the relay with the clients and checking it: what is registered where (``registered``),
taking it out again (``remove``) and ``relay doctor`` (``doctor``). What the registration says lives in
``shared/clientsetup.py``, because relay-web's banner prints it too."""
