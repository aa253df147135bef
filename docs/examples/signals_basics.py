"""Signals and slots, without a network."""

from tether.signals import Signal, sender


class Sensor:
    reading = Signal()      # your own classes can declare signals


sensor = Sensor()


# --8<-- [start:slots]
def slot(value, unit):
    print("slot got", value, unit, "from", type(sender()).__name__)


def fewer(value):                                  # slots may take fewer arguments
    print("fewer got", value)


sensor.reading.connect(slot)                       # returns slot: works as a decorator too
sensor.reading.connect(fewer)
sensor.reading.emit(21.5, "C")                     # call the slots yourself
print("receivers:", sensor.reading.receivers())    # how many slots
print("disconnected:", sensor.reading.disconnect(slot))   # True if it was connected
sensor.reading.emit(22.0, "C")
# --8<-- [end:slots]
