"""The bare-WSGI ceiling: a 302 and nothing else."""


def application(environ, start_response):
    start_response(
        "302 Found",
        [("Location", "https://shop.example.com/sale"), ("Cache-Control", "no-store"), ("Content-Length", "0")],
    )
    return [b""]
