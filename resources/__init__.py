"""Icons, style sheets and other files shipped inside the wheel."""
