"""TEST-ONLY source texts for the unit tests of the language server's pure pieces (tests/lsp/):
``SOURCE`` has functions, a class with a decorated method, a nested function and a ``# dise:``
comment; ``BROKEN`` adds a function that does not parse."""

SOURCE = '''import os


def add(a, b):
    """Add."""
    if a:
        return a + b

    # a comment inside
    return b


class Mailer:
    @staticmethod
    def send(to: str,
             body: str) -> None:
        """Send a mail."""
        ...

    def one(self): return 1

    def outer(self):
        def inner(x):
            pass
        return inner


# dise: reverse the words in a sentence
'''
#: ``SOURCE`` and a def that does not tokenize.
BROKEN = SOURCE + 'def broken(:\n    x = """\n'
