"""What a memory is taught: question-answer reflections written from the chunks, by rule
(`derive`), by the bundled writer model (`writer`) or by a model or server, verified
(`synthesis`); `language` tells what language a text is in.
"""
