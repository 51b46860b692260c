"""The local web page of ``deepcolor serve`` (`deepcolor.web.server`): a photo, hints where you click, the result."""
